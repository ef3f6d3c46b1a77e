//! The host side of one call: the store's data, the resource limiter, and
//! the WIT host traits (`sql`, `context`) — the plugin's only way out.

use super::output::Output;
use crate::bindings;
use crate::bindings::sql::RowStream;
use crate::bindings::types::{Column, Level, RowSet, SqlError, SqlValue};
use crate::sql::SqlSession;
use crate::sql::Stop;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store data of one call.
pub struct PluginState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(super) sql: Arc<Mutex<SqlSession>>,
    pub(super) params: BTreeMap<String, String>,
    /// The call's log budget, shared with its stdout/stderr.
    pub(super) output: Output,
    pub(super) stop: Option<Stop>,
}

/// Memory, instance and table limits that say which one was hit.
pub(super) struct Limiter {
    pub(super) memory: u64,
    pub(super) hit: Option<Stop>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory {
            self.hit = Some(Stop::Limit { name: "memory_mib", value: self.memory / (1024 * 1024) });
            return Err(self.hit.clone().expect("just set").into());
        }
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        8
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::types::Host for PluginState {}

impl PluginState {
    /// A host call's result: a stop is remembered (it names why the call
    /// ended) and traps the plugin; anything else is the plugin's.
    fn stopped<T>(&mut self, result: Result<T, Stop>) -> wasmtime::Result<T> {
        result.map_err(|stop| {
            self.stop = Some(stop.clone());
            stop.into()
        })
    }
}

impl bindings::sql::Host for PluginState {
    async fn query(&mut self, statement: String, params: Vec<SqlValue>) -> wasmtime::Result<Result<RowSet, SqlError>> {
        let result = self.sql.lock().await.query(&statement, &params).await;
        self.stopped(result)
    }

    async fn query_stream(
        &mut self,
        statement: String,
        params: Vec<SqlValue>,
    ) -> wasmtime::Result<Result<Resource<RowStream>, SqlError>> {
        let result = self.sql.lock().await.open_stream(&statement, &params).await;
        Ok(self.stopped(result)?.map(Resource::new_own))
    }

    async fn copy_in(
        &mut self,
        relation: String,
        columns: Vec<String>,
        rows: Vec<Vec<SqlValue>>,
    ) -> wasmtime::Result<Result<u64, SqlError>> {
        let result = self.sql.lock().await.copy_in(&relation, &columns, &rows).await;
        self.stopped(result)
    }
}

/// A stream handle's rep is the session's own id for it: the plugin holds
/// only handles the host gave it, in this call's store.
impl bindings::sql::HostRowStream for PluginState {
    async fn columns(&mut self, stream: Resource<RowStream>) -> wasmtime::Result<Vec<Column>> {
        Ok(self.sql.lock().await.stream_columns(stream.rep()))
    }

    async fn next(
        &mut self,
        stream: Resource<RowStream>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<SqlValue>>, SqlError>> {
        let result = self.sql.lock().await.next_rows(stream.rep(), max).await;
        self.stopped(result)
    }

    async fn drop(&mut self, stream: Resource<RowStream>) -> wasmtime::Result<()> {
        self.sql.lock().await.close_stream(stream.rep()).await;
        Ok(())
    }
}

impl bindings::context::Host for PluginState {
    async fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.params.get(&name).cloned())
    }

    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let result = self.output.log(level, &message);
        self.stopped(result)
    }
}

//! The host side of one call: the store's data, the resource limiter, and
//! the WIT host traits (`sql`, `context`) — the plugin's only way out.

use super::output::Output;
use super::Stop;
use crate::bindings;
use crate::bindings::types::{Level, RowSet, SqlError, SqlValue};
use crate::sql::SqlSession;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use wasmtime::component::ResourceTable;
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

impl bindings::sql::Host for PluginState {
    async fn query(&mut self, statement: String, params: Vec<SqlValue>) -> wasmtime::Result<Result<RowSet, SqlError>> {
        let result = self.sql.lock().await.query(&statement, &params).await;
        match result {
            Ok(r) => Ok(r),
            Err(stop) => {
                self.stop = Some(stop.clone());
                Err(stop.into())
            }
        }
    }
}

impl bindings::context::Host for PluginState {
    async fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.params.get(&name).cloned())
    }

    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        match self.output.log(level, &message) {
            Ok(()) => Ok(()),
            Err(stop) => {
                self.stop = Some(stop.clone());
                Err(stop.into())
            }
        }
    }
}

//! The WebAssembly sandbox: engine, per-call store, limits, and the WIT host
//! trait (the plugin's only way out).
//!
//! Each call into a plugin gets a fresh `Store` and instance: nothing a call
//! leaves in memory reaches the next one, and a trapped instance is never
//! re-entered. Limits: linear memory and instance/table counts through a
//! resource limiter; wall time through epoch interruption (a 10 ms ticker),
//! which also stops the plugin on Ctrl-C; host SQL calls race the same
//! deadline and cancel the statement on the server. WASI gives nothing but
//! stdout/stderr (into the tier's log) and the granted data files read-only.

use crate::plan::Plugin;
use crate::report::Reporter;
use crate::signal::Interrupt;
use crate::sql::SqlSession;
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Generated from `wit/plugin.wit`: the host side of the contract.
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use bindings::rollout::plugin::types::{Level, Metric, Phase, RowSet, SqlError, SqlValue};

const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Captured stdout/stderr per call.
const OUTPUT_CAPACITY: usize = 1 << 20;

/// Interfaces a plugin may import; anything else is refused at load.
const ALLOWED_IMPORTS: &[&str] = &[
    "rollout:plugin/",
    "wasi:io/",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
];

/// Why the host stopped a plugin (a trap the host caused, not a fault of
/// the plugin's own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    #[error("limit {name}={value} reached")]
    Limit { name: &'static str, value: u64 },
    #[error("interrupted by the operator (Ctrl-C)")]
    Interrupted,
}

/// Which export to call.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    Apply,
    PostConditions,
    Rollback,
    Check(Phase),
}

impl Call {
    /// The export's WIT name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Call::Apply => "apply",
            Call::PostConditions => "post-conditions",
            Call::Rollback => "rollback",
            Call::Check(_) => "check",
        }
    }
}

/// What a call returned, when the plugin ran to the end.
#[derive(Debug)]
pub enum Returned {
    Done,
    Metrics(Vec<Metric>),
}

/// Why a call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin returned its own error.
    #[error("{0}")]
    Failed(String),
    /// The host stopped it.
    #[error("{0}")]
    Stopped(Stop),
    /// It trapped (panic, unreachable, out-of-bounds…).
    #[error("plugin trapped: {0}")]
    Trapped(String),
}

/// One wasmtime engine for the whole host run, with its epoch ticker.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<PluginState>,
}

impl Sandbox {
    /// An engine with epoch interruption and the host imports linked.
    pub fn new() -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(wt)?;
        let ticker = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wt)?;
        bindings::Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s).map_err(wt)?;
        Ok(Sandbox { engine, linker })
    }

    /// Compiles a plugin and refuses it if it imports anything beyond the
    /// allow-list, naming the import.
    pub fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component> {
        let component = match self.cached(sha256) {
            Some(c) => c,
            None => {
                let c = Component::from_binary(&self.engine, bytes)
                    .map_err(wt)
                    .context("not a valid WebAssembly component")?;
                self.store_cached(sha256, &c);
                c
            }
        };
        for (name, _) in component.component_type().imports(&self.engine) {
            if !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)) {
                anyhow::bail!("imports `{name}`, which no plugin may use (allowed: rollout:plugin, wasi io/cli/clocks/filesystem/random)");
            }
        }
        Ok(component)
    }

    /// A precompiled component from `HOST_COMPILE_CACHE`, keyed by the
    /// plugin's sha256. Off unless that variable names a directory: what is
    /// cached is native code, so the directory must be private to the
    /// operator (tests and the demo use it to skip recompiling).
    fn cached(&self, sha256: &str) -> Option<Component> {
        let path = std::path::Path::new(&std::env::var_os("HOST_COMPILE_CACHE")?).join(format!("{sha256}.cwasm"));
        // SAFETY: the file was written by `store_cached` from a component
        // whose bytes have this sha256; wasmtime refuses artifacts built by
        // another engine configuration or version.
        unsafe { Component::deserialize_file(&self.engine, path).ok() }
    }

    fn store_cached(&self, sha256: &str, component: &Component) {
        let Some(dir) = std::env::var_os("HOST_COMPILE_CACHE") else { return };
        let dir = std::path::Path::new(&dir);
        let Ok(bytes) = component.serialize() else { return };
        let tmp = dir.join(format!("{sha256}.{}.tmp", std::process::id()));
        if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(format!("{sha256}.cwasm")));
        }
    }

    /// The component's imports and exports, for `host inspect`.
    pub fn interface(&self, component: &Component) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let imports = ty.imports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let exports = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        (imports, exports)
    }

    /// Calls one export of `plugin` in a fresh store; gives the SQL session
    /// back so the next call of the same transaction continues its counters.
    pub async fn call(
        &self,
        plugin: &Plugin,
        call: Call,
        mut sql: SqlSession,
        params: &BTreeMap<String, String>,
        reporter: Arc<Reporter>,
        interrupt: Interrupt,
    ) -> (Result<Returned, CallError>, SqlSession) {
        let limits = plugin.manifest.limits.clone();
        let deadline = Instant::now() + Duration::from_millis(limits.wall_time_ms);
        sql.deadline = deadline;
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let data_dir = match plugin.materialize_files() {
            Ok(d) => d,
            Err(e) => return (Err(CallError::Failed(format!("{e:#}"))), sql),
        };
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stdout.clone());
        if let Some(dir) = &data_dir {
            if let Err(e) = wasi.preopened_dir(dir.path(), "/data", FsPerms::ReadOnly) {
                return (Err(CallError::Failed(format!("cannot grant the data files: {e:#}"))), sql);
            }
        }
        let declared: BTreeMap<String, String> = params
            .iter()
            .filter(|(k, _)| plugin.manifest.params.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let state = PluginState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter { memory: limits.memory_mib * 1024 * 1024, hit: None },
            sql,
            params: declared,
            plugin: plugin.manifest.name.clone(),
            reporter: reporter.clone(),
            stop: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        let wall = limits.wall_time_ms;
        let interrupt_outer = interrupt.clone();
        store.epoch_deadline_callback(move |mut ctx| {
            if interrupt.is_set() {
                ctx.data_mut().stop = Some(Stop::Interrupted);
                return Err(Stop::Interrupted.into());
            }
            if Instant::now() >= deadline {
                let stop = Stop::Limit { name: "wall_time_ms", value: wall };
                ctx.data_mut().stop = Some(stop.clone());
                return Err(stop.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        // The epoch stops wasm code; this stops a plugin parked in a WASI wait
        // (a sleep, a poll), after a grace period for the inner mechanisms.
        let grace = Duration::from_secs(1);
        let backstop = async {
            tokio::select! {
                _ = tokio::time::sleep_until((deadline + grace).into()) => Stop::Limit { name: "wall_time_ms", value: wall },
                _ = async { interrupt_outer.wait().await; tokio::time::sleep(grace).await } => Stop::Interrupted,
            }
        };
        let result = tokio::select! {
            r = self.run(&mut store, plugin, call) => r,
            stop = backstop => Err(wasmtime::Error::new(stop)),
        };
        let output = String::from_utf8_lossy(&stdout.contents()).to_string();
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            reporter.plugin_log(&plugin.manifest.name, Level::Info, line);
        }
        let state = store.into_data();
        let result = match result {
            Ok(r) => r,
            Err(trap) => {
                let stop =
                    state.stop.clone().or(state.limiter.hit.clone()).or_else(|| trap.downcast_ref::<Stop>().cloned());
                match stop {
                    Some(stop) => Err(CallError::Stopped(stop)),
                    None => Err(CallError::Trapped(trap_message(&trap))),
                }
            }
        };
        (result, state.sql)
    }

    async fn run(
        &self,
        store: &mut Store<PluginState>,
        plugin: &Plugin,
        call: Call,
    ) -> wasmtime::Result<Result<Returned, CallError>> {
        let instance = bindings::Plugin::instantiate_async(&mut *store, &plugin.component, &self.linker).await?;
        let failed = |e: String| Err(CallError::Failed(e));
        Ok(match call {
            Call::Apply => instance.call_apply(&mut *store).await?.map(|_| Returned::Done).or_else(failed),
            Call::Rollback => instance.call_rollback(&mut *store).await?.map(|_| Returned::Done).or_else(failed),
            Call::PostConditions => {
                instance.call_post_conditions(&mut *store).await?.map(Returned::Metrics).or_else(failed)
            }
            Call::Check(phase) => instance.call_check(&mut *store, phase).await?.map(Returned::Metrics).or_else(failed),
        })
    }
}

/// wasmtime's own error type, as an `anyhow` error with its cause chain.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(e.into_boxed_dyn_error())
}

/// A trap as one line: the wasm message without the backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = e.root_cause().to_string();
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        msg = trap.to_string();
    }
    msg.lines().next().unwrap_or("").to_string()
}

/// Store data of one call.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    sql: SqlSession,
    params: BTreeMap<String, String>,
    plugin: String,
    reporter: Arc<Reporter>,
    stop: Option<Stop>,
}

/// Memory, instance and table limits that say which one was hit.
struct Limiter {
    memory: u64,
    hit: Option<Stop>,
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

impl bindings::rollout::plugin::types::Host for PluginState {}

impl bindings::rollout::plugin::sql::Host for PluginState {
    async fn query(&mut self, statement: String, params: Vec<SqlValue>) -> wasmtime::Result<Result<RowSet, SqlError>> {
        match self.sql.query(&statement, &params).await {
            Ok(r) => Ok(r),
            Err(stop) => {
                self.stop = Some(stop.clone());
                Err(stop.into())
            }
        }
    }
}

impl bindings::rollout::plugin::context::Host for PluginState {
    async fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.params.get(&name).cloned())
    }

    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.reporter.plugin_log(&self.plugin, level, &message);
        Ok(())
    }
}

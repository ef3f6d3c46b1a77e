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
//! What the plugin says (log lines, stdout, metrics) is bounded per call
//! ([`output`]).

mod cache;
mod host;
mod output;

use crate::manifest::Limits;
use crate::signal::Interrupt;
use crate::sql::{SqlSession, Stop};
use anyhow::{bail, Context as _, Result};
use cache::CompileCache;
use host::{Limiter, PluginState};
use output::Output;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::bindings::types::{Batch, Level, Metric, Phase};
use crate::bindings::{self, BatchedTierPre, CheckPre, TierPre};

const EPOCH_TICK: Duration = Duration::from_millis(10);
/// wasmtime's own default for the bytes one host call (or a call's result)
/// may make the host copy out of the plugin; the sandbox lowers it to the
/// plugin's memory limit, never raises it.
const HOSTCALL_FUEL: u64 = 128 << 20;

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

/// Which world of `rollout:plugin` a component must export: a tier's, or a
/// check's (gate, verify, probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Tier,
    /// A tier with `mode = "batched"`: the `batched-tier` world.
    BatchedTier,
    Check,
}

impl World {
    fn name(self) -> &'static str {
        match self {
            World::Tier => "tier",
            World::BatchedTier => "batched-tier",
            World::Check => "check",
        }
    }

    fn exports(self) -> &'static str {
        match self {
            World::Tier => "`apply`, `post-conditions` and `rollback`",
            World::BatchedTier => "`apply-batch`, `post-conditions`, `rollback-batch` and `rollback-conditions`",
            World::Check => "`check`",
        }
    }
}

/// Where a plugin's log lines go (the reporter, in the runbook).
pub trait LogSink: Send + Sync {
    fn plugin_log(&self, plugin: &str, level: Level, line: &str);
}

/// What one call needs to know about the plugin it runs.
pub struct CallSpec<'a> {
    /// The plugin's name, for its log lines.
    pub name: &'a str,
    pub component: &'a Component,
    /// The world it was compiled for (its exports were checked against it).
    pub world: World,
    pub limits: &'a Limits,
    /// The granted data files, preopened read-only at `/data`.
    pub data_dir: Option<&'a Path>,
    /// The parameters the manifest declares, and only those.
    pub params: BTreeMap<String, String>,
}

/// Which export to call.
#[derive(Debug, Clone)]
pub enum Call {
    Apply,
    PostConditions,
    Rollback,
    RollbackConditions,
    Check(Phase),
    /// One batch of a batched tier, from `position` (none: the start).
    ApplyBatch(BatchAt),
    /// One batch of a batched tier's rollback.
    RollbackBatch(BatchAt),
}

/// Where a batch starts and how many rows the host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAt {
    pub position: Option<String>,
    pub size: u32,
}

impl Call {
    /// The phase of a tier's call, whose grants its SQL is held to (a
    /// check plugin's call has none: its grants are one set).
    pub fn phase(&self) -> Option<crate::manifest::Phase> {
        use crate::manifest::Phase;
        match self {
            Call::Apply | Call::PostConditions | Call::ApplyBatch(_) => Some(Phase::Apply),
            Call::Rollback | Call::RollbackConditions | Call::RollbackBatch(_) => Some(Phase::Rollback),
            Call::Check(_) => None,
        }
    }

    /// The export's WIT name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Apply => "apply",
            Call::ApplyBatch(_) => "apply-batch",
            Call::RollbackBatch(_) => "rollback-batch",
            Call::PostConditions => "post-conditions",
            Call::Rollback => "rollback",
            Call::RollbackConditions => "rollback-conditions",
            Call::Check(_) => "check",
        }
    }
}

/// What a call returned, when the plugin ran to the end.
#[derive(Debug)]
pub enum Returned {
    Done,
    Metrics(Vec<Metric>),
    /// What a batch said it did (its text not yet bounded: the runbook does).
    Batch(Batch),
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

/// The compiler for plugins, by name (the compile cache keys on it) and as
/// wasmtime's strategy. Winch, wasmtime's baseline compiler (a Tier 1
/// compiler on x86_64, like Cranelift), compiles the One-Roof plugins with a
/// quarter of Cranelift's CPU time; its code is slower, which a plugin that
/// spends its life waiting on the database never notices. Elsewhere Winch
/// does not exist yet, and Cranelift compiles.
#[cfg(target_arch = "x86_64")]
pub const COMPILER: (&str, wasmtime::Strategy) = ("winch", wasmtime::Strategy::Winch);
#[cfg(not(target_arch = "x86_64"))]
pub const COMPILER: (&str, wasmtime::Strategy) = ("cranelift", wasmtime::Strategy::Cranelift);

/// One wasmtime engine for the whole host run, with its epoch ticker.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: CompileCache,
}

impl Sandbox {
    /// An engine with epoch interruption and the host imports linked.
    pub fn new() -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.strategy(COMPILER.1);
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
        bindings::Tier::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s).map_err(wt)?;
        let cache = CompileCache::from_env(&engine);
        Ok(Sandbox { engine, linker, cache })
    }

    /// Compiles a plugin and refuses it, naming the reason, if it imports
    /// anything beyond the allow-list or does not export `world`.
    pub fn compile(&self, bytes: &[u8], sha256: &str, world: World, kind: &str) -> Result<Component> {
        let component = match self.cache.load(&self.engine, sha256) {
            Some(c) => c,
            None => {
                let c = Component::from_binary(&self.engine, bytes)
                    .map_err(wt)
                    .context("not a valid WebAssembly component")?;
                self.cache.store(sha256, &c);
                c
            }
        };
        let (imports, exports) = self.interface(&component);
        for name in &imports {
            if !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)) {
                bail!("imports `{name}`, which no plugin may use (allowed: rollout:plugin, wasi io/cli/clocks/filesystem/random)");
            }
            if name.starts_with("rollout:plugin/") && !bindings::LINKS.iter().any(|v| name.ends_with(&format!("@{v}")))
            {
                bail!("imports `{name}`: it was built for another version of the contract; this host speaks {}; rebuild it with the current rollout-sdk", bindings::PACKAGE);
            }
        }
        let pre = self.linker.instantiate_pre(&component).map_err(wt).context("cannot link the plugin")?;
        let fits = match world {
            World::Tier => TierPre::new(pre).map(drop),
            World::BatchedTier => BatchedTierPre::new(pre).map(drop),
            World::Check => CheckPre::new(pre).map(drop),
        };
        if let Err(e) = fits {
            let kind = match world {
                World::BatchedTier => format!("{kind}\", mode = \"batched"),
                _ => kind.to_string(),
            };
            bail!(
                "its manifest says kind = \"{kind}\", so it must export the `{}` world of {} ({}), but it exports {}: \
                 build it with the SDK's {} entry point ({})",
                world.name(),
                bindings::PACKAGE,
                world.exports(),
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
                },
                world.name().replace('-', "_"),
                wt(e)
            );
        }
        Ok(component)
    }

    /// The component's imports and exports, for `host inspect`.
    pub fn interface(&self, component: &Component) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let imports = ty.imports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let exports = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        (imports, exports)
    }

    /// Calls one export in a fresh store. The SQL session is shared with
    /// the caller, so its counters run on across the calls of one
    /// transaction.
    pub async fn call(
        &self,
        spec: CallSpec<'_>,
        call: Call,
        sql: Arc<Mutex<SqlSession>>,
        log: Arc<dyn LogSink>,
        interrupt: Interrupt,
    ) -> Result<Returned, CallError> {
        let limits = spec.limits;
        let deadline = Instant::now() + Duration::from_millis(limits.wall_time_ms);
        {
            let mut session = sql.lock().await;
            session.deadline = deadline;
            session.phase = call.phase();
        }
        let output = Output::new(spec.name, log, limits);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(output.clone()).stderr(output.clone());
        if let Some(dir) = spec.data_dir {
            if let Err(e) = wasi.preopened_dir(dir, "/data", FsPerms::ReadOnly) {
                return Err(CallError::Failed(format!("cannot grant the data files: {e:#}")));
            }
        }
        let state = PluginState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter { memory: limits.memory_mib * 1024 * 1024, hit: None },
            sql,
            params: spec.params,
            output: output.clone(),
            stop: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // What one lift copies into the host (a host call's arguments, the
        // returned metrics) is bounded by the plugin's memory, even when its
        // strings alias one buffer, which the lift would copy once each.
        store.set_hostcall_fuel(HOSTCALL_FUEL.min(limits.memory_mib * 1024 * 1024) as usize);
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
                _ = async {
                    interrupt_outer.wait().await;
                    // The call stops itself on an interrupt (epoch, SQL cancel,
                    // this backstop for a plugin parked in a WASI wait): the
                    // command winds down on its own and gets the time to.
                    interrupt_outer.hear();
                    tokio::time::sleep(grace).await
                } => Stop::Interrupted,
            }
        };
        let result = tokio::select! {
            r = self.run(&mut store, spec.component, spec.world, call) => r,
            stop = backstop => Err(wasmtime::Error::new(stop)),
        };
        output.finish();
        let state = store.into_data();
        match result {
            Ok(Ok(Returned::Metrics(metrics))) => match output::metrics_within(&metrics, limits) {
                Ok(()) => Ok(Returned::Metrics(metrics)),
                Err(stop) => Err(CallError::Stopped(stop)),
            },
            Ok(r) => r,
            Err(trap) => {
                let stop = state
                    .stop
                    .clone()
                    .or(state.limiter.hit.clone())
                    .or_else(|| output.hit())
                    .or_else(|| trap.downcast_ref::<Stop>().cloned())
                    .or_else(|| {
                        let memory = Stop::Limit { name: "memory_mib", value: limits.memory_mib };
                        hostcall_fuel_exhausted(&trap).then_some(memory)
                    });
                match stop {
                    Some(stop) => Err(CallError::Stopped(stop)),
                    None => Err(CallError::Trapped(trap_message(&trap))),
                }
            }
        }
    }

    async fn run(
        &self,
        store: &mut Store<PluginState>,
        component: &Component,
        world: World,
        call: Call,
    ) -> wasmtime::Result<Result<Returned, CallError>> {
        // The plugin's own error string: kept exact, but bounded.
        let failed = |e: String| Err(CallError::Failed(crate::text::cut(e, crate::text::MESSAGE_BYTES)));
        Ok(match call {
            Call::Check(phase) => {
                let instance = bindings::Check::instantiate_async(&mut *store, component, &self.linker).await?;
                instance.call_check(&mut *store, phase).await?.map(Returned::Metrics).or_else(failed)
            }
            Call::ApplyBatch(_) | Call::RollbackBatch(_) | Call::PostConditions | Call::RollbackConditions
                if world == World::BatchedTier =>
            {
                let tier = bindings::BatchedTier::instantiate_async(&mut *store, component, &self.linker).await?;
                let s = &mut *store;
                match call {
                    Call::ApplyBatch(at) => tier
                        .call_apply_batch(s, at.position.as_deref(), at.size)
                        .await?
                        .map(Returned::Batch)
                        .or_else(failed),
                    Call::RollbackBatch(at) => tier
                        .call_rollback_batch(s, at.position.as_deref(), at.size)
                        .await?
                        .map(Returned::Batch)
                        .or_else(failed),
                    Call::RollbackConditions => {
                        tier.call_rollback_conditions(s).await?.map(Returned::Metrics).or_else(failed)
                    }
                    _ => tier.call_post_conditions(s).await?.map(Returned::Metrics).or_else(failed),
                }
            }
            Call::ApplyBatch(_) | Call::RollbackBatch(_) => {
                Err(CallError::Failed("the plugin is not a batched tier (world `batched-tier`)".into()))
            }
            call => {
                let tier = bindings::Tier::instantiate_async(&mut *store, component, &self.linker).await?;
                let s = &mut *store;
                match call {
                    Call::Apply => tier.call_apply(s).await?.map(|_| Returned::Done).or_else(failed),
                    Call::Rollback => tier.call_rollback(s).await?.map(|_| Returned::Done).or_else(failed),
                    Call::RollbackConditions => {
                        tier.call_rollback_conditions(s).await?.map(Returned::Metrics).or_else(failed)
                    }
                    _ => tier.call_post_conditions(s).await?.map(Returned::Metrics).or_else(failed),
                }
            }
        })
    }
}

/// wasmtime's own error type, as an `anyhow` error with its cause chain.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(e.into_boxed_dyn_error())
}

/// Whether wasmtime refused a lift for its hostcall fuel: a host call's
/// arguments or a call's result would have made the host copy more than the
/// plugin's memory limit. wasmtime's error type for it is private, so its
/// message is matched; wasmtime is pinned, and `tests/bounds.rs` fails if
/// the message changes.
fn hostcall_fuel_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|cause| cause.to_string().contains("fuel allocated for hostcalls has been exhausted"))
}

/// A trap as one line: the wasm message without the backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = e.root_cause().to_string();
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        msg = trap.to_string();
    }
    msg.lines().next().unwrap_or("").to_string()
}

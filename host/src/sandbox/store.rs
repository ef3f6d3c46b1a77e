//! One call into a plugin in a fresh store: its memory, hostcall and wall
//! time limits, the epoch deadline and Ctrl-C, the export called, and why
//! it stopped if it did.

use super::engine::Sandbox;
use super::host::{Limiter, PluginState};
use super::output::{self, Output};
use super::{Call, CallError, CallSpec, LogSink, Returned, World};
use crate::bindings;
use crate::signal::Interrupt;
use crate::sql::{SqlSession, Stop};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// wasmtime's own default for the bytes one host call (or a call's result)
/// may make the host copy out of the plugin; the sandbox lowers it to the
/// plugin's memory limit, never raises it.
const HOSTCALL_FUEL: u64 = 128 << 20;

impl Sandbox {
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

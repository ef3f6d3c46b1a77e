//! The one wasmtime engine of a host command, its epoch ticker and linker,
//! and a plugin's compile: the import allow-list and the world check.

use super::cache::CompileCache;
use super::host::PluginState;
use super::World;
use crate::bindings::{self, BatchedTierPre, CheckPre, TierPre};
use anyhow::{bail, Context as _, Result};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// How often the engine's epoch ticks: a call sees its deadline and
/// Ctrl-C within one tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    pub(super) engine: Engine,
    pub(super) linker: Linker<PluginState>,
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
}

/// wasmtime's own error type, as an `anyhow` error with its cause chain.
pub(super) fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(e.into_boxed_dyn_error())
}

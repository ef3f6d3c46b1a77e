//! The compile cache: plugins compiled to native code once per machine.
//!
//! Loading a cached entry runs native code from a file, so a file is only
//! trusted when nobody but the operator could have written it: the
//! directory and each entry must be owned by the user running the host and
//! closed to group and others (a directory the host creates is 0700, an
//! entry 0600). Anything else is refused with one warning line and the
//! plugin is compiled afresh. An entry is keyed by the component's sha256
//! and a digest of wasmtime's version and engine configuration, so another
//! host build or engine setting never picks up a stale entry; it is written
//! to a temporary file in the same directory and renamed into place, so a
//! reader never sees half an entry.
//!
//! Where: `HOST_COMPILE_CACHE=off` disables it, `HOST_COMPILE_CACHE=DIR`
//! names the directory, and by default it is `$XDG_CACHE_HOME/rollout-host`
//! (or `~/.cache/rollout-host`).

use sha2::{Digest, Sha256};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The environment variable that names the directory or turns it off.
pub const VARIABLE: &str = "HOST_COMPILE_CACHE";
/// The subdirectory of the operator's cache directory.
const SUBDIR: &str = "rollout-host";

/// Compiled plugins on disk, or nothing when the cache is off or refused.
pub struct CompileCache {
    dir: Option<PathBuf>,
    /// wasmtime's version and the engine's configuration, as a digest.
    engine_key: String,
    /// One warning line per run is enough.
    warned: AtomicBool,
}

impl CompileCache {
    /// The cache the environment asks for, for entries `engine` can load.
    pub fn from_env(engine: &Engine) -> Self {
        let setting = std::env::var_os(VARIABLE).filter(|v| !v.is_empty());
        let dir = match setting {
            Some(v) if v == "off" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => default_dir(),
        };
        let cache = CompileCache { dir: None, engine_key: engine_key(engine), warned: AtomicBool::new(false) };
        match dir {
            Some(dir) => match private_dir(&dir) {
                Ok(()) => CompileCache { dir: Some(dir), ..cache },
                Err(why) => {
                    cache.warn(&format!("not using the compile cache {}: {why}", dir.display()));
                    cache
                }
            },
            None => cache,
        }
    }

    /// The entry for the component with this sha256, when there is one the
    /// operator alone could have written and this engine can load.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256)?;
        let mut file = match File::options().read(true).custom_flags(libc::O_NOFOLLOW).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.warn(&format!("not using the compile cache entry {}: {e}", path.display()));
                return None;
            }
        };
        // The open file's own metadata: what is read is what was checked.
        let meta = file.metadata().ok()?;
        if let Err(why) = private(&meta, false) {
            self.warn(&format!("not using the compile cache entry {}: {why}", path.display()));
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes).ok()?;
        // Unsafe because wasmtime runs the bytes as code, unchecked: the
        // compile cache is worth it (docs/performance.md).
        #[allow(unsafe_code)]
        // SAFETY: the entry was written by `store` from a component with
        // this sha256, in a directory and a file only the operator can
        // write (checked above); wasmtime itself refuses an artifact of
        // another version or configuration, which the name also rules out.
        let loaded = unsafe { Component::deserialize(engine, &bytes) };
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!("compile cache entry {} is unusable, compiling afresh: {e}", path.display());
                None
            }
        }
    }

    /// Writes the entry: a private temporary file in the same directory,
    /// renamed into place. A cache that cannot take it costs a compile next
    /// time, nothing more.
    pub fn store(&self, sha256: &str, component: &Component) {
        let (Some(dir), Some(path)) = (&self.dir, self.entry(sha256)) else { return };
        let Ok(bytes) = component.serialize() else { return };
        let written = tempfile::Builder::new().prefix(".entry-").tempfile_in(dir).and_then(|mut tmp| {
            tmp.write_all(&bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)
        });
        if let Err(e) = written {
            tracing::debug!("could not write the compile cache entry {}: {e}", path.display());
        }
    }

    /// Where the entry for `sha256` lives, when the cache is on.
    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{}.cwasm", self.engine_key)))
    }

    fn warn(&self, message: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            let message = format!("{message}; plugins are compiled afresh");
            crate::printer::get().status(crate::printer::Tone::Warning, "Warning", &message);
        }
    }
}

/// `$XDG_CACHE_HOME/rollout-host`, or `~/.cache/rollout-host`; none when
/// neither is known (then the cache is off).
fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute())?;
        Some(home.join(".cache"))
    })?;
    Some(base.join(SUBDIR))
}

/// Creates `dir` (0700, and any missing parent 0700) if it is missing, then
/// requires it to be a directory of the operator's, closed to others.
fn private_dir(dir: &Path) -> Result<(), String> {
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        return Err(format!("cannot create it: {e}"));
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory (a symbolic link is not followed)".into());
    }
    private(&meta, true).map_err(|why| format!("{why}; run `chmod 700 {}` if it is yours", dir.display()))
}

/// The file or directory is the operator's, and no one else can read or
/// write it.
fn private(meta: &std::fs::Metadata, dir: bool) -> Result<(), String> {
    // The process's effective uid: std has no safe call for it.
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("it is owned by uid {}, not by you (uid {me})", meta.uid()));
    }
    if !dir && !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("its mode is {mode:04o}: group or others can read or write it"));
    }
    Ok(())
}

/// A digest of wasmtime's version and everything in the engine's
/// configuration that compiled code depends on.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Digester(Sha256::new());
    // The compatibility hash carries wasmtime's own version (its default
    // module version strategy); the host's version is added for good measure.
    concat!("host ", env!("CARGO_PKG_VERSION")).hash(&mut hasher);
    super::COMPILER.0.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// `std::hash::Hasher` over sha256: a key that is the same in every run
/// (std's own hashers promise no stable output).
struct Digester(Sha256);

impl Hasher for Digester {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        // Only the full digest is used (`engine_key`).
        0
    }
}

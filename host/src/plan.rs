//! The plan: plugins loaded from `--tiers`, their manifests, their data
//! files, and their order.
//!
//! Order comes from the kinds (gate, tiers, verify, probes) and, within a
//! kind, the manifests' ordinals, never from file names. A plan with no
//! gate, no verify plugin, two plugins of one kind on one ordinal or two of
//! one name is refused here, before anything touches the database.

use crate::manifest::{Kind, Manifest, Mode, SECTION};
use crate::sandbox::{Sandbox, World};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// A granted data file, read once at load: what the plugin reads is what
/// was hashed.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub name: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// A plugin as the ledger (`rollout.plugins`) and the report record it:
/// which bytes ran. Typed, not a JSON map, so that the report stored in the
/// ledger reads back into the same fields and renders the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub name: String,
    pub kind: String,
    pub ordinal: Option<u32>,
    pub sha256: String,
    pub files: Vec<FileRecord>,
}

/// A data file of a [`Record`], by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub name: String,
    pub sha256: String,
}

/// One plugin as a reviewer sees it: bytes, digest, manifest, data files.
/// Reading one needs no engine; running one needs its compiled component
/// (see [`Plan`]).
pub struct Plugin {
    pub path: PathBuf,
    /// sha256 of the component's bytes, manifest included.
    pub sha256: String,
    pub manifest: Manifest,
    pub files: Vec<DataFile>,
    bytes: Vec<u8>,
}

impl Plugin {
    /// `tier 3 one-roof-axis`, `gate one-roof-gate`: how messages name it.
    pub fn label(&self) -> String {
        match (self.manifest.kind, self.manifest.ordinal) {
            (Kind::Tier, Some(n)) => format!("tier {n} ({})", self.manifest.name),
            (kind, _) => format!("{kind} ({})", self.manifest.name),
        }
    }

    /// Data file name → sha256, as the lock file and grants digest pin them.
    pub fn file_digests(&self) -> BTreeMap<String, String> {
        self.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect()
    }

    /// What the ledger and the report record of the plugin.
    pub fn record(&self) -> Record {
        Record {
            name: self.manifest.name.clone(),
            kind: self.manifest.kind.to_string(),
            ordinal: self.manifest.ordinal,
            sha256: self.sha256.clone(),
            files: self.files.iter().map(|f| FileRecord { name: f.name.clone(), sha256: f.sha256.clone() }).collect(),
        }
    }

    /// The ordinal; the gate counts as -1 so it sorts first.
    pub fn ordinal(&self) -> i64 {
        self.manifest.ordinal.map(i64::from).unwrap_or(-1)
    }

    /// The world its manifest's kind requires.
    pub fn world(&self) -> World {
        match self.manifest.kind {
            Kind::Tier if self.manifest.mode == Mode::Batched => World::BatchedTier,
            Kind::Tier => World::Tier,
            Kind::Gate | Kind::Verify | Kind::Probe => World::Check,
        }
    }

    /// Compiles the component, refusing imports beyond the allow-list and
    /// exports that do not match the kind.
    pub fn compile(&self, sandbox: &Sandbox) -> Result<Component> {
        sandbox
            .compile(&self.bytes, &self.sha256, self.world(), &self.manifest.kind.to_string())
            .with_context(|| format!("plugin {}", self.path.display()))
    }

    /// Writes the granted files to a fresh private directory for a
    /// read-only preopen; none when the plugin is granted no file.
    pub fn materialize_files(&self) -> Result<Option<tempfile::TempDir>> {
        if self.files.is_empty() {
            return Ok(None);
        }
        let dir = tempfile::tempdir().context("cannot create the data directory")?;
        for f in &self.files {
            std::fs::write(dir.path().join(&f.name), &f.bytes)?;
        }
        Ok(Some(dir))
    }
}

/// Which of the plan's plugins a command calls: only those are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// `host gate`: the gate alone.
    Gate,
    /// `host run`: gate, tiers, verify, probes.
    Everything,
    /// `host rollback`: the tiers' rollbacks and the probes.
    Rollback,
}

impl Calls {
    fn includes(self, plugin: &Plugin) -> bool {
        match self {
            Calls::Gate => plugin.manifest.kind == Kind::Gate,
            Calls::Everything => true,
            Calls::Rollback => matches!(plugin.manifest.kind, Kind::Tier | Kind::Probe),
        }
    }
}

/// The plugins of a rollout, in the order they run; those the command
/// calls are compiled.
pub struct Plan {
    pub gate: Plugin,
    pub tiers: Vec<Plugin>,
    pub verify: Plugin,
    pub probes: Vec<Plugin>,
    /// Compiled components by plugin name (those the command calls).
    components: BTreeMap<String, Component>,
}

impl Plan {
    /// Every plugin, in run order.
    pub fn all(&self) -> impl Iterator<Item = &Plugin> {
        std::iter::once(&self.gate).chain(&self.tiers).chain(std::iter::once(&self.verify)).chain(&self.probes)
    }

    /// Refuses a `--param` no plugin of the plan declares (a typo would
    /// otherwise be silently ignored, and a plugin would run with its
    /// default instead), naming every parameter the plugins do declare.
    pub fn refuse_unknown_params(&self, params: &BTreeMap<String, String>) -> Result<(), String> {
        let declared: std::collections::BTreeSet<&str> =
            self.all().flat_map(|p| p.manifest.params.keys()).map(String::as_str).collect();
        let unknown: Vec<String> = params
            .keys()
            .filter(|k| !declared.contains(k.as_str()))
            .map(|k| format!("`{}`", crate::text::terminal(k)))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known = if declared.is_empty() {
            "no plugin of the plan declares any parameter".to_string()
        } else {
            let names: Vec<String> = declared.iter().map(|d| format!("`{d}`")).collect();
            format!("the plugins declare {}", names.join(", "))
        };
        Err(format!(
            "unknown parameter {}: no plugin of the plan declares it; {known}. Check the spelling, or drop it",
            unknown.join(", ")
        ))
    }

    /// Reads and orders the plugins, and compiles those the command calls
    /// (a refusal of one of them comes here, before the database).
    pub fn load(sandbox: &Sandbox, paths: &[PathBuf], data_dir: Option<&Path>, calls: Calls) -> Result<Plan> {
        let mut plan = Plan::order(read_all(paths, data_dir)?)?;
        let called: Vec<&Plugin> = plan.all().filter(|p| calls.includes(p)).collect();
        plan.components = compile_all(sandbox, &called)?;
        Ok(plan)
    }

    /// The compiled component of one of the plan's plugins; none for a
    /// plugin the command does not call.
    pub fn component(&self, plugin: &Plugin) -> Option<&Component> {
        self.components.get(&plugin.manifest.name)
    }

    fn order(plugins: Vec<Plugin>) -> Result<Plan> {
        let mut names = BTreeMap::new();
        // Ordinals order plugins of one kind: two tiers (or two probes) may
        // not share one, a tier and a probe may.
        let mut ordinals = BTreeMap::new();
        for p in &plugins {
            if let Some(other) = names.insert(p.manifest.name.clone(), p.path.clone()) {
                bail!("two plugins are named `{}`: {} and {}", p.manifest.name, other.display(), p.path.display());
            }
            if let Some(n) = p.manifest.ordinal {
                if let Some(other) = ordinals.insert((p.manifest.kind.to_string(), n), p.manifest.name.clone()) {
                    let kind = p.manifest.kind;
                    bail!(
                        "ordinal {n} is claimed by both {kind} `{other}` and {kind} `{}`; each {kind} needs its own",
                        p.manifest.name
                    );
                }
            }
        }
        let mut by_kind: BTreeMap<&'static str, Vec<Plugin>> = BTreeMap::new();
        for p in plugins {
            let key = match p.manifest.kind {
                Kind::Gate => "gate",
                Kind::Tier => "tier",
                Kind::Verify => "verify",
                Kind::Probe => "probe",
            };
            by_kind.entry(key).or_default().push(p);
        }
        let mut one = |kind: &str| -> Result<Plugin> {
            let mut list = by_kind.remove(kind).unwrap_or_default();
            match list.len() {
                1 => Ok(list.remove(0)),
                0 => bail!("the plan has no {kind} plugin; a rollout needs exactly one (add it to --tiers)"),
                n => bail!("the plan has {n} {kind} plugins; a rollout needs exactly one"),
            }
        };
        let gate = one("gate")?;
        // Verify runs after the last tier by kind, whatever its number: a
        // team adds tiers 9 and 10 without renumbering verify or the probes.
        let verify = one("verify")?;
        let mut tiers = by_kind.remove("tier").unwrap_or_default();
        let mut probes = by_kind.remove("probe").unwrap_or_default();
        tiers.sort_by_key(|p| p.ordinal());
        probes.sort_by_key(|p| p.ordinal());
        Ok(Plan { gate, tiers, verify, probes, components: BTreeMap::new() })
    }
}

/// Compiles plugins (or loads them from the compile cache) on one thread
/// per core, each taking the next plugin not yet taken: compiling is the
/// slow part of a cold start.
pub fn compile_all(sandbox: &Sandbox, plugins: &[&Plugin]) -> Result<BTreeMap<String, Component>> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<Vec<(String, Component)>> {
        let mut done = Vec::new();
        while let Some(p) = plugins.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            done.push((p.manifest.name.clone(), p.compile(sandbox)?));
        }
        Ok(done)
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores.min(plugins.len())).map(|_| scope.spawn(work)).collect();
        let mut all = BTreeMap::new();
        for w in workers {
            let done = w.join().map_err(|_| anyhow::anyhow!("a plugin compiler thread panicked"))?;
            all.extend(done?);
        }
        Ok(all)
    })
}

/// Reads plugins without compiling or ordering them (`grants`, `inspect`).
pub fn read_all(paths: &[PathBuf], data_dir: Option<&Path>) -> Result<Vec<Plugin>> {
    if paths.is_empty() {
        bail!("no plugins given; pass them with --tiers tiers/*.wasm");
    }
    paths.iter().map(|p| read(p, data_dir).with_context(|| format!("plugin {}", p.display()))).collect()
}

/// Reads one plugin: bytes, digest, embedded manifest, data files.
pub fn read(path: &Path, data_dir: Option<&Path>) -> Result<Plugin> {
    let bytes = std::fs::read(path).context("cannot read the file")?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let text = manifest_section(&bytes)?;
    let manifest = Manifest::parse(&text).context("its manifest is invalid")?;
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => path.parent().unwrap_or(Path::new(".")).join("data"),
    };
    let files = read_files(&manifest, &dir)?;
    Ok(Plugin { path: path.to_path_buf(), sha256, manifest, files, bytes })
}

/// Reads the granted files through a capability on the data directory, so
/// a file name can never reach outside it.
fn read_files(manifest: &Manifest, dir: &Path) -> Result<Vec<DataFile>> {
    if manifest.files.is_empty() {
        return Ok(Vec::new());
    }
    let cap = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .with_context(|| format!("data directory {} (pass --data-dir)", dir.display()))?;
    manifest
        .files
        .iter()
        .map(|name| {
            let bytes = cap.read(name).with_context(|| format!("data file `{name}` in {}", dir.display()))?;
            Ok(DataFile { name: name.clone(), sha256: hex::encode(Sha256::digest(&bytes)), bytes })
        })
        .collect()
}

/// The manifest text from the component's custom section; exactly one.
fn manifest_section(bytes: &[u8]) -> Result<String> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CustomSection(reader) = payload.context("not a valid WebAssembly file")? {
            if reader.name() == SECTION {
                found.push(reader.data().to_vec());
            }
        }
    }
    match found.len() {
        1 => String::from_utf8(found.remove(0)).context("the manifest is not UTF-8"),
        0 => {
            bail!("no embedded manifest (custom section `{SECTION}`); build the plugin with rollout-sdk's export macro")
        }
        n => bail!("{n} embedded manifests; a plugin carries exactly one"),
    }
}

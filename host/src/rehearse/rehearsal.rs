//! The rehearsal's sequence: the copy proven to be the source's state,
//! then each step run and the copy's state compared with the baseline.

use super::guard;
use super::record;
use super::row::{Equal, Row};
use super::step::{Launcher, Ran, Verb};
use crate::digest::{self, Key, Reader, Scope, Sequence, State};
use crate::error::{Failure, INJECTED};
use crate::plan::{self, Plugin};
use crate::rehearsal_copy::Identity;
use crate::report::Reporter;
use crate::runbook::{PlanArgs, RehearsalStep};
use crate::signal::Interrupt;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Which tiers a rehearsal makes fail, one run each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailAt {
    All,
    Tier(i64),
}

impl std::str::FromStr for FailAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(FailAt::All),
            n => n.parse().map(FailAt::Tier).map_err(|_| format!("`{s}` is not a tier number or `all`")),
        }
    }
}

/// What `host rehearse` is asked.
#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// The copy to rehearse on: another server, the source's database
    /// name, marked `ALTER DATABASE … SET host.rehearsal_copy = on`, the
    /// same state (proven by digest before the first step).
    #[arg(
        long,
        value_name = "URL",
        env = "HOST_COPY_URL",
        hide_env_values = true,
        required_unless_present = "make_copy",
        conflicts_with = "make_copy"
    )]
    pub copy_url: Option<String>,
    /// No copy to name: make one from the source (a scratch server,
    /// `pg_dump` of --from restored into it, marked), rehearse there and
    /// remove it afterwards.
    #[arg(long)]
    pub make_copy: bool,
    /// With --make-copy: keep the copy running afterwards (its URL and how
    /// to stop it are printed).
    #[arg(long, requires = "make_copy")]
    pub keep: bool,
    /// With --make-copy: the directory of the PostgreSQL programs (initdb,
    /// pg_ctl, pg_dump, pg_dumpall, pg_restore, psql) [default: the first of PATH,
    /// `pg_config --bindir`, /usr/lib/postgresql/*/bin holding them all].
    #[arg(long, value_name = "DIR", requires = "make_copy")]
    pub pg_bindir: Option<std::path::PathBuf>,
    /// The source (production), only read, in one snapshot, a relation
    /// at a time: the copy must be another database holding its exact
    /// state.
    #[arg(long, value_name = "URL", env = "HOST_DATABASE_URL", hide_env_values = true)]
    pub from: String,
    /// Also rehearse the FAIL path: a run failing at tier N (or at each
    /// tier: `all`), each followed by a rollback to the exact baseline.
    #[arg(long, value_name = "N|all")]
    pub fail_at: Option<FailAt>,
}

/// The server's own catalogs: plugins read them, nothing rolls them back.
const SYSTEM_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "pg_toast"];

/// Runs the rehearsal, in its own report directory with the steps'
/// under it; its table and report are written whatever the end.
pub async fn rehearse(r: RehearseArgs) -> Result<(), Failure> {
    let reporter = Arc::new(Reporter::new(Some(&r.plan.reports), "rehearse").map_err(Failure::Plan)?);
    let interrupt = Interrupt::install();
    let plugins = plan::read_all(&r.plan.tiers, r.plan.data_dir.as_deref()).map_err(Failure::Plan)?;
    if let Some(path) = &r.plan.lock {
        let signers = r.plan.allowed_signers.as_deref();
        let (lock, record) = crate::grants::read_lock(path, signers).map_err(Failure::Plan)?;
        lock.verify(&plugins.iter().collect::<Vec<_>>()).map_err(Failure::Plan)?;
        reporter.status("Verified", &format!("every plugin matches the lock file {}", path.display()));
        reporter.status("Signature", &record.line(crate::text::terminal));
        reporter.set_lock(record);
    }
    let fail_at = failing_tiers(&plugins, r.fail_at.as_ref())?;
    let made = match r.make_copy {
        true => {
            let making = super::made::make(&r.from, r.pg_bindir.as_deref(), &reporter);
            Some(until_stopped(&interrupt, "making the copy", making).await?)
        }
        false => None,
    };
    let copy_url = match (&made, &r.copy_url) {
        (Some(m), _) => m.url.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => return Err(Failure::Plan(anyhow::anyhow!("name the copy with --copy-url, or --make-copy"))),
    };
    // The exact scope: the plan's schemas. (The relations its writes reach
    // beyond them go in `relations` once the catalog lists them.)
    let scope = Scope { schemas: schemas(&plugins), relations: Vec::new() };
    let dir = reporter.dir().map(|d| d.join("steps")).unwrap_or_else(|| std::env::temp_dir().join("host-rehearse"));
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Plan(anyhow::anyhow!("cannot find this host binary to run the steps: {e}")))?;
    let key = Key::random().map_err(Failure::Plan)?;
    let mut book = record::Book::new(reporter.clone(), &scope);
    let setup = Setup { scope, key, fail_at, dir, exe, interrupt, copy_url };
    let result = steps(&r, &setup, &mut book).await;
    let result = book.finish(result);
    match (made, r.keep) {
        (Some(m), true) => drop(m.keep(&reporter)),
        (Some(m), false) => m.remove(&reporter),
        (None, _) => {}
    }
    result
}

/// What every step of one rehearsal shares.
struct Setup {
    scope: Scope,
    /// The whole-database net's key, drawn once per rehearsal.
    key: Key,
    fail_at: Vec<i64>,
    /// Where each step's command writes its report.
    dir: PathBuf,
    /// This host binary, which each step runs.
    exe: PathBuf,
    interrupt: Interrupt,
    /// The copy: the operator's --copy-url, or the one made (--make-copy).
    copy_url: String,
}

/// The tiers `--fail-at` names, each one of the plan's.
fn failing_tiers(plugins: &[Plugin], fail_at: Option<&FailAt>) -> Result<Vec<i64>, Failure> {
    let mut tiers: Vec<i64> =
        plugins.iter().filter(|p| p.manifest.kind == crate::manifest::Kind::Tier).map(Plugin::ordinal).collect();
    tiers.sort_unstable();
    match fail_at {
        None => Ok(Vec::new()),
        Some(FailAt::All) => Ok(tiers),
        Some(FailAt::Tier(n)) if tiers.contains(n) => Ok(vec![*n]),
        Some(FailAt::Tier(n)) => Err(Failure::Plan(anyhow::anyhow!(
            "--fail-at {n}: the plan has no tier {n} (its tiers: {})",
            tiers.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Every schema the plan's grants name: the digest's scope.
fn schemas(plugins: &[Plugin]) -> Vec<String> {
    let mut all = BTreeSet::new();
    for p in plugins {
        let g = &p.manifest.grants;
        let lists =
            [&g.read, &g.insert, &g.update, &g.delete, &g.create, &g.drop, &g.functions, &g.sequences, &g.references];
        for name in lists.into_iter().flatten() {
            if let Some((schema, _)) = name.split_once('.') {
                all.insert(schema.to_string());
            }
        }
    }
    all.retain(|s| !digest::HOST_SCHEMAS.iter().any(|(h, _)| h == s));
    all.into_iter().filter(|s| !SYSTEM_SCHEMAS.contains(&s.as_str())).collect()
}

async fn steps(r: &RehearseArgs, setup: &Setup, book: &mut record::Book) -> Result<(), Failure> {
    let Setup { scope, key, fail_at, dir, exe, interrupt: stop, copy_url } = setup;
    let copy =
        until_stopped(stop, "connecting to the copy", guard::connect(copy_url, "host rehearse (copy)", false)).await?;
    let source = guard::connect(&r.from, "host rehearse (source, read only)", true);
    let source = until_stopped(stop, "connecting to the source", source).await?;
    until_stopped(stop, "comparing the two servers", guard::same_database_refused(&source, &copy)).await?;
    // Every step, and every digest of the copy, stands where this one does.
    let pinned = copy.server;
    let launcher = Launcher {
        exe: exe.clone(),
        plan: r.plan.clone(),
        copy_url: copy_url.clone(),
        copy: pinned,
        interrupt: stop.clone(),
    };
    let started = Instant::now();
    let from = state(&source, scope, key, "the source", stop).await?;
    // Production is read once, and no longer held.
    drop(source);
    book.push(Row::digest("source (read only)", &from, Equal::Reference, started));
    let started = Instant::now();
    let baseline = state(&copy, scope, key, "the copy", stop).await?;
    guard::pinned(&baseline.server, &pinned)?;
    let same = baseline.digest() == from.digest();
    book.push(Row::digest("copy baseline", &baseline, Equal::of(same), started));
    book.set_baseline(&baseline);
    if !same {
        let diff = differences(&from, &baseline, &copy, stop).await?;
        return Err(book.differs("the copy is not the source's state", &diff));
    }
    let mut at =
        CopyOnTrial { reader: &copy, scope, key, pinned, baseline: &baseline, positions: baseline.sequences.clone() };
    let launcher = &launcher;
    let mut n = 0;
    let mut step = |label: &str| {
        n += 1;
        dir.join(format!("{n:02}-{label}"))
    };
    let plain = RehearsalStep::default;
    let first = ran(launcher, book, &mut at, plain(), &step("run"), 0, "run").await?;
    restored(launcher, book, &mut at, plain(), &step("rollback"), "rollback").await?;
    // Every tier's rollback once more, on the restored baseline: a no-op,
    // or the rollback is not idempotent.
    let again = RehearsalStep { every_tier: true, ..plain() };
    let (dir, label) = (step("rollback-again"), "rollback again (idempotent)");
    restored(launcher, book, &mut at, again, &dir, label).await?;
    let second = ran(launcher, book, &mut at, plain(), &step("run-again"), 0, "run again").await?;
    if first.verify() != second.verify() {
        return Err(book.fail(
            "run again",
            "the second run's verify table differs from the first's: the run is not repeatable (compare the two \
             steps' report.md)",
        ));
    }
    restored(launcher, book, &mut at, plain(), &step("rollback"), "rollback").await?;
    for tier in fail_at {
        // The step exits INJECTED only when tier N failed as injected: a
        // failure before it exits as that failure does.
        let label = format!("run failing at tier {tier}");
        let failing = RehearsalStep { fail_at: Some(*tier), ..plain() };
        let dir = step(&format!("fail-at-{tier}"));
        ran(launcher, book, &mut at, failing, &dir, i32::from(INJECTED), &label).await?;
        let label = format!("rollback after tier {tier} failed");
        restored(launcher, book, &mut at, plain(), &step(&format!("rollback-{tier}")), &label).await?;
    }
    Ok(())
}

/// Runs one step and requires its exit code to be `code`.
async fn expect(
    launcher: &Launcher,
    book: &mut record::Book,
    verb: Verb,
    asked: RehearsalStep,
    dir: &std::path::Path,
    code: i32,
    label: &str,
) -> Result<Ran, Failure> {
    book.starting(label);
    let ran = launcher.run(verb, asked, dir).await.map_err(Failure::Plan)?;
    book.push(Row::ran(label, verb, &ran, code));
    book.sent(label, &ran);
    match ran.code {
        Some(c) if c == code => Ok(ran),
        // The step refused its database (not the copy, not marked): the
        // rehearsal's refusal too, not a disproof.
        Some(5) => Err(book.refused(
            label,
            &format!("`host {}` refused its database; its output ends:\n{}", verb.as_str(), ran.tail(6)),
        )),
        // A step stopped by Ctrl-C may end as a database error (its
        // statement cancelled): that is the operator's stop, not a rollback
        // the rehearsal disproved.
        _ if launcher.interrupt.is_set() => {
            Err(Failure::Interrupted(format!("the rehearsal stopped during `{label}` (see {})", ran.log.display())))
        }
        Some(130) | None => Err(Failure::Interrupted(format!("the rehearsal stopped during `{label}`"))),
        Some(c) => {
            let injected = if code == i32::from(INJECTED) {
                " (it did not fail where the failure was injected: it failed before it)"
            } else {
                ""
            };
            Err(book.fail(
                label,
                &format!(
                    "`host {}` exited {c}, not {code}{injected}; its output ends:\n{}\n(all of it: {})",
                    verb.as_str(),
                    ran.tail(12),
                    ran.log.display()
                ),
            ))
        }
    }
}

/// The copy on trial: where it is read, what the digest reads of it, the
/// state to restore, and the sequences' positions after the last step.
struct CopyOnTrial<'a> {
    reader: &'a Reader,
    scope: &'a Scope,
    key: &'a Key,
    pinned: Identity,
    baseline: &'a State,
    positions: BTreeMap<String, Sequence>,
}

impl CopyOnTrial<'_> {
    /// Shows the sequences the step `label` moved; keeps where they are.
    /// One set back behind the baseline fails the rehearsal: the rows
    /// compare equal, yet the next INSERT drawing from it collides.
    fn moved(&mut self, book: &mut record::Book, label: &str, now: BTreeMap<String, Sequence>) -> Result<(), Failure> {
        book.sequences(label, &digest::moves(&self.positions, &now));
        let behind = digest::set_back(&self.baseline.sequences, &now);
        self.positions = now;
        if behind.is_empty() {
            return Ok(());
        }
        let why: Vec<String> = behind.iter().map(|m| crate::text::terminal(&m.behind())).collect();
        Err(book.fail(label, &why.join("; ")))
    }
}

/// A run step (its state is not compared): its sequences are shown.
async fn ran(
    launcher: &Launcher,
    book: &mut record::Book,
    at: &mut CopyOnTrial<'_>,
    asked: RehearsalStep,
    dir: &std::path::Path,
    code: i32,
    label: &str,
) -> Result<Ran, Failure> {
    let ran = expect(launcher, book, Verb::Run, asked, dir, code, label).await?;
    let read = async { digest::positions(at.reader).await.map_err(|e| read_failed("the copy", e)) };
    let now = until_stopped(&launcher.interrupt, "reading the sequences", read).await?;
    at.moved(book, label, now)?;
    Ok(ran)
}

/// A rollback step that must succeed and leave the copy equal to `baseline`.
async fn restored(
    launcher: &Launcher,
    book: &mut record::Book,
    at: &mut CopyOnTrial<'_>,
    asked: RehearsalStep,
    dir: &std::path::Path,
    label: &str,
) -> Result<(), Failure> {
    let ran = expect(launcher, book, Verb::Rollback, asked, dir, 0, label).await?;
    let now = state(at.reader, at.scope, at.key, "the copy", &launcher.interrupt).await?;
    guard::pinned(&now.server, &at.pinned)?;
    let same = now.digest() == at.baseline.digest();
    book.digested(&now, Equal::of(same), ran.ms);
    at.moved(book, label, now.sequences.clone())?;
    if same {
        return Ok(());
    }
    let diff = differences(at.baseline, &now, at.reader, &launcher.interrupt).await?;
    let what = format!(
        "after `{label}` the copy differs from the baseline (the copy keeps what the step left: restore it from the \
         source before the next rehearsal)"
    );
    Err(book.differs(&what, &diff))
}

/// The state of `what`, or the rehearsal stops at Ctrl-C (the reading is
/// read-only: dropping it mid-way leaves nothing behind).
async fn state(reader: &Reader, scope: &Scope, key: &Key, what: &str, stop: &Interrupt) -> Result<State, Failure> {
    tokio::select! {
        r = digest::take(reader, scope, key) => r.map_err(|e| read_failed(what, e)),
        _ = stop.wait() => Err(Failure::Interrupted(format!("the rehearsal stopped while reading the state of {what}"))),
    }
}

/// The differences of `now` from `base`: reading the sample rows may scan
/// a large relation, so Ctrl-C stops it too (it is read-only).
async fn differences(
    base: &State,
    now: &State,
    copy: &Reader,
    stop: &Interrupt,
) -> Result<Vec<digest::Difference>, Failure> {
    let read = async { digest::difference(base, now, copy).await.map_err(|e| read_failed("the copy", e)) };
    until_stopped(stop, "reading the differing rows", read).await
}

/// `work`, or the rehearsal stops at Ctrl-C while it is `doing` something
/// that only reads or connects (dropping it leaves nothing behind).
async fn until_stopped<T>(
    stop: &Interrupt,
    doing: &str,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::select! {
        r = work => r,
        _ = stop.wait() => Err(Failure::Interrupted(format!("the rehearsal stopped while {doing}"))),
    }
}

fn read_failed(what: &str, e: anyhow::Error) -> Failure {
    Failure::Database(e.context(format!("cannot read the state of {what}")))
}

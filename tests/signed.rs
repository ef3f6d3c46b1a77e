//! A signed lock file (issue 22 item 1): `ssh-keygen -Y sign -n host-lock`
//! writes `LOCK.sig`, and `--allowed-signers FILE` refuses the plan unless
//! that is a good signature of exactly the lock file's bytes by a listed
//! key, for the `host-lock` namespace. The ledger, `host status` and the
//! report record who signed, with which key, the lock's sha256 and when it
//! was checked. Real ssh-keygen, real server, real binary, real plugins.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn review(plan: &[String], lock: &Path) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_host"));
    let mut a = vec!["grants", "--lock", lock.to_str().unwrap()];
    a.extend(plan.iter().map(String::as_str));
    c.current_dir(root()).args(&a).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host")).expect_code(0).expect("Wrote the lock file");
}

fn ssh_keygen(args: &[&str]) -> String {
    let out =
        Command::new("ssh-keygen").args(args).output().expect("ssh-keygen (package openssh-client) must be installed");
    assert!(out.status.success(), "ssh-keygen {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new ed25519 key pair `dir/name` (no passphrase).
fn key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path.to_str().unwrap()]);
    path
}

/// Signs `file` with `key` for `namespace`: writes `file.sig`.
fn sign(key: &Path, namespace: &str, file: &Path) {
    let _ = std::fs::remove_file(sig(file));
    ssh_keygen(&["-Y", "sign", "-f", key.to_str().unwrap(), "-n", namespace, file.to_str().unwrap()]);
}

fn sig(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", file.display()))
}

fn public(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", key.display())).unwrap().trim().to_string()
}

/// `SHA256:…`, as ssh-keygen prints the key's fingerprint.
fn fingerprint(key: &Path) -> String {
    let line = ssh_keygen(&["-l", "-E", "sha256", "-f", &format!("{}.pub", key.display())]);
    line.split_whitespace().nth(1).unwrap().to_string()
}

fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn no_ledger(c: &Cluster) {
    assert_eq!(c.psql("SELECT to_regclass('rollout_ledger.rollout') IS NULL"), "t", "something ran: a ledger exists");
}

#[test]
fn each_bad_signature_is_refused_before_anything_runs() {
    let c = Cluster::start("sg-bad");
    c.ratify();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("rollout.lock");
    let plan = one_roof();
    review(&plan, &lock);
    let (alice, bob) = (key(dir.path(), "alice"), key(dir.path(), "bob"));
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(&allowed, format!("# reviewers\nalice@example.com {}\n", public(&alice))).unwrap();
    let refused = |why: &str| {
        for verb in [&["run", "--param", APR][..], &["run", "--dry-run", "--param", APR], &["rollback"]] {
            let mut extra = verb[1..].to_vec();
            extra.extend(["--lock", lock.to_str().unwrap(), "--allowed-signers", allowed.to_str().unwrap()]);
            c.host(&args(verb[0], &plan, &extra)).expect_code(2).expect("refusing the lock file").expect(why);
        }
        no_ledger(&c);
    };

    // No signature beside it.
    refused("it is not signed (no ");
    // Signed by a key the allowed signers file does not list.
    sign(&bob, "host-lock", &lock);
    refused(&format!("signed by the key {}, which the allowed signers file", fingerprint(&bob)));
    // Signed for another namespace (git's).
    sign(&alice, "git", &lock);
    refused("its signature is for the namespace `git`, not `host-lock`");
    // A good signature of another file, put beside the lock file.
    let other = dir.path().join("other.lock");
    std::fs::write(&other, "# Reviewed plugins: another plan\n").unwrap();
    sign(&alice, "host-lock", &other);
    std::fs::copy(sig(&other), sig(&lock)).unwrap();
    refused("does not verify");
    // The lock file changed after it was signed (a comment: the plan it
    // pins is the same, the reviewed bytes are not).
    sign(&alice, "host-lock", &lock);
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push_str("# one more line\n");
    std::fs::write(&lock, &text).unwrap();
    refused("was changed after it was signed");
    // A listed key limited to other namespaces.
    sign(&alice, "host-lock", &lock);
    std::fs::write(&allowed, format!("alice@example.com namespaces=\"git,file\" {}\n", public(&alice))).unwrap();
    refused("may sign only for the namespaces git,file");
    // An option the host does not check is refused, not ignored.
    std::fs::write(&allowed, format!("alice@example.com valid-before=\"20200101\" {}\n", public(&alice))).unwrap();
    refused("the option `valid-before` is not supported");
    // --allowed-signers without --lock is refused by the parser.
    c.host(&args("run", &plan, &["--param", APR, "--allowed-signers", allowed.to_str().unwrap()]))
        .expect_code(2)
        .expect("--lock");
    no_ledger(&c);
}

#[test]
fn a_good_signature_runs_and_is_recorded_and_an_unchecked_one_is_said() {
    let c = Cluster::start("sg-good");
    c.ratify();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("rollout.lock");
    let plan = one_roof();
    review(&plan, &lock);
    let alice = key(dir.path(), "alice");
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(&allowed, format!("alice@example.com,alice namespaces=\"host-lock\" {}\n", public(&alice))).unwrap();
    let l = lock.to_str().unwrap();

    // No lock file yet: `host status` shows no lock column.
    c.host(&args("run", &plan, &["--dry-run", "--param", APR])).expect_code(0);
    assert!(!status_head(&c).contains("lock"), "a lock column with no lock file:\n{}", status_head(&c));

    // Unsigned, no --allowed-signers: runs as before, said unsigned.
    c.host(&args("run", &plan, &["--dry-run", "--param", APR, "--lock", l])).expect_code(0).expect(": unsigned");
    // Signed, no --allowed-signers: runs, the signature said not checked.
    sign(&alice, "host-lock", &lock);
    c.host(&args("run", &plan, &["--dry-run", "--param", APR, "--lock", l]))
        .expect_code(0)
        .expect("a signature is beside it but was not checked (no --allowed-signers)");
    // Checked: runs, and who signed is recorded.
    let r = c.host(&args("run", &plan, &["--param", APR, "--lock", l, "--allowed-signers", allowed.to_str().unwrap()]));
    r.expect_code(0).expect("signed by alice@example.com,alice (key ");
    let (digest, key) = (sha256(&lock), fingerprint(&alice));
    let row = c.psql(
        "SELECT lock_sha256 || ' ' || lock_signer || ' ' || lock_key || ' ' || (lock_checked_at > now() - interval '1 hour')
         FROM rollout_ledger.rollout WHERE verb = 'run'",
    );
    assert_eq!(row, format!("{digest} alice@example.com,alice {key} true"));
    // The two dry runs: the digest, no signer.
    assert_eq!(
        c.psql("SELECT string_agg(lock_sha256 || ':' || coalesce(lock_signer, '-'), ' ') FROM rollout_ledger.rollout WHERE verb = 'dry_run'"),
        format!("{digest}:- {digest}:-")
    );
    let report = c.reports().into_iter().rfind(|d| d.display().to_string().contains("-run-")).unwrap();
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains(&format!("(sha256 {digest}): signed by alice@example.com,alice (key {key})")), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["lock"]["signature"], "verified");
    assert_eq!(json["lock"]["key"], key.as_str());
    let status = c.host(&["--format", "json", "status"]);
    let status: serde_json::Value = serde_json::from_str(&status.expect_code(0).stdout).unwrap();
    let line = format!("{} signed by alice@example.com,alice ({key}), checked ", &digest[..12]);
    assert!(status["history"][0]["lock"].as_str().unwrap().starts_with(&line), "{status}");
    assert_eq!(status["history"][1]["lock"], format!("{} not verified", &digest[..12]));
    // The text table: a lock column, the signer in it.
    assert!(status_head(&c).contains(" lock "), "no lock column:\n{}", status_head(&c));
    let text = c.host_cmd(&["status"]).env("COLUMNS", "400").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("{} signed by alice@example.com,alice", &digest[..12])), "{text}");
}

/// The header line of `host status`'s table of rollouts (wide enough not to wrap).
fn status_head(c: &Cluster) -> String {
    let out = c.host_cmd(&["status"]).env("COLUMNS", "400").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let head = text.lines().find(|l| l.contains(" verb ") && l.contains(" message ")).map(String::from);
    head.unwrap_or_else(|| panic!("no table of rollouts:\n{text}"))
}

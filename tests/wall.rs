//! The role wall: under roles a function the plugin may call (a granted
//! plpgsql function, a trigger on a granted table) that leaves the
//! plugin's role inside one statement — `SET ROLE` to the operator or to
//! another plugin's role, `RESET ROLE`, `set_config('role', …)`, `SET
//! SESSION AUTHORIZATION DEFAULT` — reaches only the runner, which holds
//! nothing: the secret it tries to read never reaches the plugin, the
//! report, the log or the ledger. And a tier that changes what a role
//! holds (a default privilege) fails at that tier and keeps nothing.

mod support;

use support::*;

const SECRET: &str = "WALL-SECRET-7f3a9c";

/// One try to leave the plugin's role (`route`) and read the secret, in
/// plpgsql: appends to `out` what it got, then puts the role back.
const TRY: &str = r#"
            was := current_user;
            out := out || route || ':';
            BEGIN
                IF route = 'operator' THEN SET ROLE postgres;
                ELSIF route = 'reset' THEN RESET ROLE;
                ELSIF route = 'other' THEN SET ROLE rollout_one_roof_gate;
                ELSIF route = 'config' THEN PERFORM set_config('role', 'postgres', false);
                ELSIF route = 'session' THEN SET SESSION AUTHORIZATION DEFAULT;
                END IF;
                out := out || ' as ' || current_user;
                SELECT v INTO got FROM public.wall_secret;
                out := out || ' READ ' || got;
            EXCEPTION WHEN OTHERS THEN
                out := out || ' refused (' || SQLERRM || ')';
            END;
            PERFORM set_config('role', was, false);
"#;

/// The secret; a granted function and a trigger on a granted table that
/// try every way out of the plugin's role within one statement, reporting
/// what each got; a function that sets a default privilege for its
/// caller's role. None is callable by PUBLIC (the proof would refuse it).
fn objects(c: &Cluster) {
    c.psql(&format!(
        r#"CREATE TABLE public.wall_secret (v text);
        INSERT INTO public.wall_secret VALUES ('{SECRET}');
        CREATE FUNCTION public.wall_escape(route text) RETURNS text LANGUAGE plpgsql AS $f$
        DECLARE was text; got text; out text := '';
        BEGIN {TRY} RETURN out; END $f$;
        CREATE TABLE public.wall_drop (note text);
        CREATE FUNCTION public.wall_drop_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
        DECLARE was text; got text; out text := ''; route text;
        BEGIN
            FOREACH route IN ARRAY ARRAY['operator', 'reset', 'other', 'config', 'session'] LOOP
                {TRY}
                out := out || ' | ';
            END LOOP;
            NEW.note := out;
            RETURN NEW;
        END $f$;
        CREATE TRIGGER wall_drop BEFORE INSERT ON public.wall_drop FOR EACH ROW EXECUTE FUNCTION public.wall_drop_trigger();
        CREATE FUNCTION public.wall_defaults() RETURNS text LANGUAGE plpgsql AS $f$
        BEGIN
            ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC;
            RETURN 'default privileges set for ' || current_user;
        END $f$;
        REVOKE EXECUTE ON FUNCTION public.wall_escape(text), public.wall_defaults() FROM PUBLIC"#
    ));
}

/// Gate, verify and the wall fixture as tier 3, its data file `sql`.
fn plan(c: &Cluster, sql: &str) -> (Vec<String>, std::path::PathBuf) {
    let data = c.dir.join("wall-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("wall.sql"), sql).unwrap();
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push("tests/plugins/wall.wasm".into());
    (plan, data)
}

/// `host roles apply` for the plan.
fn apply(c: &Cluster, plan: &[String], data: &std::path::Path) {
    let mut a = vec!["roles", "apply"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--data-dir", data.to_str().unwrap()]);
    c.host(&a).expect_code(0).expect("Proven 3 restricted roles");
}

/// The reviewer's lock file: the plan to run under roles, and the
/// fixture's trigger (code no statement names) recorded as reviewed.
fn review(c: &Cluster, plan: &[String], data: &std::path::Path) -> String {
    let lock = c.dir.join("wall.lock").display().to_string();
    let url = c.url();
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--data-dir", data.to_str().unwrap(), "--database-url", &url, "--lock", &lock, "--roles"]);
    c.host(&a).expect_code(0).expect("reviewed catalog object(s)");
    lock
}

/// Everything the command wrote: its output, its report files, the ledger.
fn everything(c: &Cluster, r: &Run) -> String {
    let mut all = r.all();
    for dir in c.reports() {
        for f in std::fs::read_dir(dir).unwrap() {
            all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap_or_default());
        }
    }
    all.push_str(&c.psql("SELECT coalesce(string_agg(coalesce(message, ''), ' '), '') FROM rollout_ledger.tier_event"));
    all.push_str(
        &c.psql("SELECT coalesce(string_agg(coalesce(report::text, ''), ' '), '') FROM rollout_ledger.rollout"),
    );
    all
}

const ROUTES: &str = "SELECT public.wall_escape('operator') AS got
SELECT public.wall_escape('reset') AS got
SELECT public.wall_escape('other') AS got
SELECT public.wall_escape('config') AS got
SELECT public.wall_escape('session') AS got
INSERT INTO public.wall_drop (note) VALUES ('x') RETURNING note AS got
";

#[test]
fn no_way_out_of_a_plugins_role_within_a_statement_reaches_anything() {
    let c = Cluster::start("wall-escape");
    c.ratify();
    objects(&c);
    let (plan, data) = plan(&c, ROUTES);
    apply(&c, &plan, &data);
    let lock = review(&c, &plan, &data);
    let r = c.host(&args(
        "run",
        &plan,
        &["--param", APR, "--lock", &lock, "--roles", "--data-dir", data.to_str().unwrap()],
    ));
    let all = everything(&c, &r);
    assert!(!all.contains(SECRET), "the secret reached the plugin, the report or the ledger:\n{}", r.all());
    // Every route ran, and the server refused each: the runner, which the
    // plugin's session is, is a member of no role but the plugin's own
    // (for this call) and can read nothing.
    for says in [
        r#"operator: refused (permission denied to set role "postgres")"#,
        "reset: as rollout_runner refused (permission denied for table wall_secret)",
        r#"other: refused (permission denied to set role "rollout_one_roof_gate")"#,
        r#"config: refused (permission denied to set role "postgres")"#,
        "session: as rollout_runner refused (permission denied for table wall_secret)",
    ] {
        let logged = r.all().lines().filter(|l| l.contains("WALL GOT:") && l.contains(says)).count();
        // Each route once by the function and once by the trigger.
        assert_eq!(logged, 2, "expected {says:?} twice in:\n{}", r.all());
    }
    // The wall's own bookkeeping is the host's, never a tier's change.
    assert!(!r.all().contains("rollout_roles."), "the wall's rows were blamed on a tier:\n{}", r.all());
    // Tier 3 applied (the plan has no One-Roof tiers, so verify then fails).
    r.expect_code(4).expect("Applied tier 3 (test-wall)").expect("TIER 8 VERIFY FAIL");
    assert_eq!(c.tier_states(), "test-wall=applied verify=failed".replace("verify", "one-roof-verify"));
    // Nothing of it committed a membership: the runner is a member of nothing.
    assert_eq!(c.scalar("SELECT count(*) FROM pg_auth_members WHERE member = 'rollout_runner'::regrole"), 0);
    // The plugin's session was the runner's, as the server saw it.
    assert_eq!(c.psql("SELECT count(*) FROM public.wall_drop WHERE note LIKE '%as rollout_runner%'"), "1");
}

#[test]
fn a_tier_that_sets_a_default_privilege_fails_at_that_tier_and_keeps_nothing() {
    let c = Cluster::start("wall-defaults");
    c.ratify();
    objects(&c);
    let (plan, data) = plan(&c, "SELECT public.wall_defaults() AS got\n");
    apply(&c, &plan, &data);
    let lock = review(&c, &plan, &data);
    let r = c.host(&args(
        "run",
        &plan,
        &["--param", APR, "--lock", &lock, "--roles", "--data-dir", data.to_str().unwrap()],
    ));
    r.expect_code(4).expect("WALL GOT: default privileges set for rollout_test_wall");
    r.expect("tier 3 (test-wall) failed: the role proof after it failed");
    r.expect("rollout_test_wall: sets default privileges FOR ROLE rollout_test_wall ON TABLES TO PUBLIC");
    r.expect(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "rollout_test_wall" REVOKE SELECT ON TABLES FROM PUBLIC;"#);
    assert_eq!(c.tier_states(), "test-wall=failed");
    assert_eq!(c.scalar("SELECT count(*) FROM pg_default_acl"), 0, "the default privilege was committed");
}

/// The old costume, for the record: `SET LOCAL ROLE` on the operator's
/// session (a superuser here) is taken off and put back within one
/// statement, and the secret is read. Nothing of the host is involved:
/// this is what the wall is against.
#[test]
fn on_the_operators_session_a_function_takes_the_role_off_and_reads_the_secret() {
    let c = Cluster::start("wall-costume");
    objects(&c);
    c.psql("CREATE ROLE rollout_test_wall NOLOGIN; GRANT EXECUTE ON FUNCTION public.wall_escape(text) TO rollout_test_wall");
    let got = c.psql("BEGIN; SET LOCAL ROLE rollout_test_wall; SELECT public.wall_escape('operator'); COMMIT");
    assert!(got.contains(&format!("operator: as postgres READ {SECRET}")), "{got}");
}

/// psql as `user` in `directus`: (succeeded, stdout and stderr).
fn psql_as(c: &Cluster, user: &str, sql: &str) -> (bool, String) {
    let out = c
        .psql_cmd_as(user, "directus")
        .args(["-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_wall_grants_a_role_only_for_a_live_key_and_never_commits_a_membership() {
    let c = Cluster::start("wall-key");
    objects(&c);
    let (plan, data) = plan(&c, "SELECT 1 AS got\n");
    apply(&c, &plan, &data);
    // A host command's control connection: registers the sha256 of its key
    // and lives on (the key is valid as long as it does).
    let mut control = c
        .psql_cmd()
        .arg("-q")
        .args(["-c", "SELECT rollout_roles.register(sha256('k1'::bytea))", "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while c.scalar("SELECT count(*) FROM rollout_roles.key") == 0 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let runner = "rollout_runner";
    let enter = |key: &str, role: &str| format!("SELECT rollout_roles.enter('{key}'::bytea, '{role}')");
    // Without the key, nothing; the runner cannot register one of its own.
    let (ok, out) = psql_as(&c, runner, &enter("k2", "rollout_test_wall"));
    assert!(!ok && out.contains("this key belongs to no running host command"), "{out}");
    let (ok, out) = psql_as(&c, runner, "SELECT rollout_roles.register(sha256('k2'::bytea))");
    assert!(!ok && out.contains("permission denied for function register"), "{out}");
    // With it, only a role on the allow-list.
    let (ok, out) = psql_as(&c, runner, &enter("k1", "postgres"));
    assert!(!ok && out.contains("role postgres is not in rollout_roles.allowed"), "{out}");
    // A COMMIT that still holds the membership fails: nothing of it stays.
    let (ok, out) = psql_as(&c, runner, &format!("BEGIN; {}; COMMIT", enter("k1", "rollout_test_wall")));
    assert!(!ok && out.contains("still holds a role membership at COMMIT"), "{out}");
    // The host's order: enter, switch, back, leave, then COMMIT.
    let call = "BEGIN; SELECT set_config('role', rollout_roles.enter('k1'::bytea, 'rollout_test_wall'), true); \
         SELECT current_user; SELECT set_config('role', 'none', true); SELECT rollout_roles.leave('k1'::bytea); COMMIT";
    let (ok, out) = psql_as(&c, runner, call);
    assert!(ok && out.contains("rollout_test_wall"), "{out}");
    assert_eq!(c.scalar("SELECT count(*) FROM pg_auth_members WHERE member = 'rollout_runner'::regrole"), 0);
    // The command's connection ends: its key is useless.
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()");
    control.wait().unwrap();
    while c.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1380928581") > 0 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (ok, out) = psql_as(&c, runner, &enter("k1", "rollout_test_wall"));
    assert!(!ok && out.contains("this key belongs to no running host command"), "{out}");
}

/// The runner logs in as libpq would: the operator's settings (here TLS,
/// `verify-full`, scram) with the user replaced and the runner's own
/// password from the password file; the operator's password is never
/// sent for it.
#[test]
fn the_runner_logs_in_with_its_own_password_from_the_password_file() {
    let c = Cluster::start_tls("wall-runner");
    c.ratify();
    let plan = one_roof();
    let mut a = vec!["roles", "apply"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--operator-role", "rollout_tls"]);
    c.host(&a).expect_code(0).expect("Proven 11 restricted roles");
    c.psql("SET password_encryption = 'scram-sha-256'; ALTER ROLE rollout_runner PASSWORD 'runner-secret-pw'");
    let port = c.port.unwrap();
    let pgpass = |lines: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = c.dir.join("tls").join("pgpass-runner");
        std::fs::write(&path, lines).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    let run = |passfile: &std::path::Path| {
        let mut cmd = c.host_cmd_bare(&args("run", &plan, &["--param", APR, "--roles"]));
        cmd.env("PGHOST", "localhost")
            .env("PGPORT", port.to_string())
            .env("PGUSER", "rollout_tls")
            .env("PGDATABASE", "directus")
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", c.tls_file("ca.crt"))
            .env("PGPASSWORD", "tls-secret-pw")
            .env("PGPASSFILE", passfile);
        Run::from(cmd.output().unwrap())
    };
    // No line for the runner: the operator's PGPASSWORD is not tried for it.
    let r = run(&pgpass(&format!("localhost:{port}:directus:rollout_tls:tls-secret-pw\n")));
    r.expect_code(8).expect("rollout_runner");
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event"), 0);
    // Its own line: the run completes, the plugins' session the runner's.
    let r = run(&pgpass(&format!("localhost:{port}:directus:rollout_runner:runner-secret-pw\n")));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    assert!(!r.all().contains("runner-secret-pw") && !r.all().contains("tls-secret-pw"), "{}", r.all());
}

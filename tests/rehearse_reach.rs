//! What a rollout touches beyond the relations its statements name: a write
//! that cascades through a foreign key into another schema, lands in a
//! partition there, goes through a view to its base table (each granted, as
//! the catalog audit requires, and so digested exactly), or fires a
//! reviewed trigger that logs in a schema no grant names (seen by the
//! whole-database net). A rollback that undoes only what the tier wrote
//! itself leaves the rest; the rehearsal fails naming the relation. And sequences: their positions never
//! roll back, so each step shows the ones it moved, and a position near the
//! bound warns loudly without failing the rehearsal.

mod support;

use support::rehearsal::*;
use support::*;

/// The plan's schema (`shop`), another (`crm`) that its writes reach, and
/// one (`audit`) that only a trigger writes, which no grant names.
const SHOP: &str = "
CREATE SCHEMA shop;
CREATE SCHEMA crm;
CREATE SCHEMA audit;
CREATE TABLE shop.account (id int PRIMARY KEY, name text NOT NULL, balance int NOT NULL DEFAULT 0);
INSERT INTO shop.account SELECT g, 'account ' || g, 0 FROM generate_series(1, 3) g;
CREATE TABLE crm.contact (id serial PRIMARY KEY,
                          account_id int NOT NULL REFERENCES shop.account ON DELETE CASCADE, email text NOT NULL);
INSERT INTO crm.contact (account_id, email) SELECT 1, 'c' || g || '@example.com' FROM generate_series(1, 50) g;
CREATE TABLE shop.event (at date NOT NULL, what text NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE shop.event_recent PARTITION OF shop.event FOR VALUES FROM ('2026-01-01') TO (MAXVALUE);
CREATE TABLE crm.event_archive PARTITION OF shop.event FOR VALUES FROM (MINVALUE) TO ('2026-01-01');
INSERT INTO shop.event VALUES ('2024-03-01', 'opened'), ('2026-02-01', 'renewed');
CREATE TABLE crm.note (id serial PRIMARY KEY, kind text NOT NULL, body text NOT NULL);
INSERT INTO crm.note (kind, body) VALUES ('public', 'welcome');
CREATE VIEW shop.public_note AS SELECT id, kind, body FROM crm.note WHERE kind = 'public';
CREATE TABLE audit.audit_log (id bigserial PRIMARY KEY, account_id int NOT NULL, old_balance int, new_balance int);
CREATE FUNCTION crm.log_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit.audit_log (account_id, old_balance, new_balance) VALUES (OLD.id, OLD.balance, NEW.balance);
  RETURN NEW;
END $$;
CREATE TRIGGER account_audit AFTER UPDATE ON shop.account FOR EACH ROW EXECUTE FUNCTION crm.log_balance();
CREATE TABLE shop.ticket (id smallserial PRIMARY KEY, note text NOT NULL);
SELECT setval('shop.ticket_id_seq', 29989);
CREATE SEQUENCE shop.batch_seq MAXVALUE 100;
CREATE TABLE shop.batch (id int PRIMARY KEY DEFAULT nextval('shop.batch_seq'), note text NOT NULL);
ALTER SEQUENCE shop.batch_seq OWNED BY shop.batch.id;
";

/// The rehearsal of One-Roof plus the fixture tier 7 in `mode`.
fn rehearse_reach(name: &str, mode: &str) -> (Cluster, Cluster, Run, serde_json::Value) {
    let (prod, copy) = production_and_copy_with(name, SHOP);
    let reports = tempfile::tempdir().unwrap();
    let plan = plan_with(None, &["tests/plugins/reach.wasm"]);
    let param = format!("reach={mode}");
    // The reviewer has seen the audit trigger (code no statement names):
    // the catalog audit lets the plan run, and the rehearsal is the wall
    // that sees what its writes leave behind.
    let lock = prod.dir.join("reach.lock").display().to_string();
    let mut review = vec!["grants"];
    review.extend(plan.iter().map(String::as_str));
    let source = prod.url();
    review.extend(["--database-url", source.as_str(), "--lock", lock.as_str()]);
    prod.host(&review).expect_code(0).expect("reviewed catalog object(s)");
    let r = rehearse(&prod, &copy, &plan, &["--param", &param, "--lock", &lock], reports.path());
    let stored = report(reports.path());
    production_untouched(&prod);
    (prod, copy, r, stored)
}

/// The rehearsal failed at the first rollback, naming `difference` first;
/// with `net`, a schema the plan's grants never name, which the
/// whole-database net covers.
fn fails_at_rollback_naming(r: &Run, stored: &serde_json::Value, difference: &str, net: Option<&str>) {
    r.expect_code(10).expect(&format!(
        "REHEARSAL FAILED: at `rollback`: after `rollback` the copy differs from the baseline (the copy keeps what \
         the step left: restore it from the source before the next rehearsal): {difference}"
    ));
    assert_eq!(stored["outcome"], "failed");
    assert_eq!(stored["steps"].as_array().unwrap().last().unwrap()["equal_to_baseline"], "no", "{stored:#}");
    if let Some(schema) = net {
        r.expect("outside the plan's schemas: the whole-database net keeps a count and a hash per relation");
        assert!(stored["net"].as_array().unwrap().iter().any(|s| s == schema), "{stored:#}");
    }
}

#[test]
fn a_delete_that_cascades_into_another_schema_is_seen_though_the_rollback_restores_the_parent() {
    let (_prod, copy, r, stored) = rehearse_reach("reach-cascade", "cascade");
    fails_at_rollback_naming(
        &r,
        &stored,
        "the rows of crm.contact differ from the baseline: 0 rows not in the baseline, 50 rows of the baseline missing",
        None,
    );
    // The account was restored; its contacts were not.
    assert_eq!(copy.scalar("SELECT count(*) FROM shop.account"), 3);
    assert_eq!(copy.scalar("SELECT count(*) FROM crm.contact"), 0);
}

#[test]
fn an_insert_that_lands_in_a_partition_in_another_schema_is_seen() {
    let (_prod, _copy, r, stored) = rehearse_reach("reach-partition", "partition");
    fails_at_rollback_naming(
        &r,
        &stored,
        "the rows of crm.event_archive differ from the baseline: 1 row not in the baseline, 0 rows of the baseline missing",
        None,
    );
}

#[test]
fn an_insert_through_a_view_into_its_base_table_in_another_schema_is_seen() {
    let (_prod, _copy, r, stored) = rehearse_reach("reach-view", "view");
    fails_at_rollback_naming(
        &r,
        &stored,
        "the rows of crm.note differ from the baseline: 1 row not in the baseline, 0 rows of the baseline missing",
        None,
    );
}

#[test]
fn what_a_trigger_logs_in_another_schema_is_seen() {
    let (_prod, _copy, r, stored) = rehearse_reach("reach-trigger", "trigger");
    fails_at_rollback_naming(
        &r,
        &stored,
        "the rows of audit.audit_log differ from the baseline: 0 rows in the baseline, 2 now",
        Some("audit"),
    );
    // Its sequence moved too: shown, never compared.
    r.expect("Sequence audit.audit_log_id_seq 1 (is_called false) → 1 (drew 1)");
}

#[test]
fn a_rollout_that_burns_sequences_near_their_bound_warns_loudly_and_still_proves_its_rollback() {
    let (_prod, _copy, r, stored) = rehearse_reach("reach-burn", "burn");
    // The rows roll back; positions do not, and are not compared.
    r.expect_code(0).expect("REHEARSAL OK: rollback restores the baseline exactly");
    // Each step shows what it drew, before → after, and the margin left.
    r.expect(
        "Sequence shop.ticket_id_seq 29989 → 29999 (drew 10); 2768 values left before its maximum 32767 (8.4 % of \
         its range)",
    )
    .expect("Sequence shop.batch_seq 1 (is_called false) → 40 (drew 40); 60 values left before its maximum 100")
    .expect("Sequence shop.batch_seq 40 → 80 (drew 40); 20 values left before its maximum 100");
    // Less than a tenth of its range left after the first run: what
    // production will hold after the rollout.
    let near = "after `run`: sequence shop.ticket_id_seq has 2768 of its 32767 values left before its maximum 32767 \
                (8.4 %, under 10 %)";
    r.expect(&format!("WARNING {near}")).expect(&format!("WARNING: {near}"));
    // Far from a tenth, but fewer values left than a run draws.
    r.expect(
        "WARNING: after `run again`: sequence shop.batch_seq has 20 values left before its maximum 100, fewer than \
         this step drew (40): one more such run exhausts it",
    );
    r.expect("; WARNING: 3 sequence positions near their bound (above)");
    let warnings: Vec<&str> = stored["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 3, "{stored:#}");
    assert!(warnings.contains(&near), "{warnings:?}");
    let first = stored["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["step"] == "run" && m["sequence"] == "shop.ticket_id_seq")
        .unwrap_or_else(|| panic!("{stored:#}"));
    assert_eq!(
        (&first["before"], &first["after"], &first["drawn"], &first["left"], &first["range"]),
        (&"29989".into(), &"29999".into(), &"10".into(), &"2768".into(), &"32767".into())
    );
    // A step that drew nothing near a bound warns nothing (the rollbacks).
    assert!(warnings.iter().all(|w| w.starts_with("after `run")), "{warnings:?}");
}

/// The net has no holes: a table the rehearsing role may not read fails the
/// rehearsal, naming it and what to grant, before any step.
#[test]
fn a_table_the_rehearsing_role_may_not_read_fails_the_rehearsal_instead_of_leaving_a_hole() {
    let (prod, copy) = production_and_copy_with("reach-unreadable", SHOP);
    // A role that may read the plan's schemas and every sequence, but not
    // the tables of audit and crm (made after the copy was restored: it
    // reads only production, which fails first).
    prod.psql(
        "CREATE ROLE rehearser LOGIN;
         GRANT USAGE ON SCHEMA one_roof, shop, crm, audit TO rehearser;
         GRANT SELECT ON ALL TABLES IN SCHEMA one_roof, shop TO rehearser;
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA one_roof, shop, crm, audit TO rehearser;",
    );
    let reports = tempfile::tempdir().unwrap();
    let from = prod.url().replace("user=postgres", "user=rehearser");
    let r = rehearse_urls(&prod, &from, &copy.url(), &one_roof(), &[], reports.path(), &[]);
    r.expect_code(8)
        .expect(
            "cannot read the state of the source: cannot begin reading audit.audit_log: the digest reads every table",
        )
        .expect("grant the role that rehearses `pg_read_all_data`")
        .expect("permission denied for table audit_log");
    assert_eq!(report(reports.path())["steps"].as_array().unwrap().len(), 0);
    production_untouched(&prod);
}

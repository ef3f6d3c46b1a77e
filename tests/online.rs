//! The second example plan (examples/online) end to end on a real server,
//! through the real binary: a column added, backfilled, a foreign key added
//! NOT VALID then validated, an index built concurrently; then the whole
//! rollback. The catalog, not the host's words, says what each step left.
//! `make bench` runs the same plan on a million rows under a writer load.

mod support;

use support::*;

const ROWS: &str = "20000";

/// The example's plugins, in file-name order (the host orders them).
fn plan() -> Vec<String> {
    let dir = root().join("examples/online/plugins");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/online/plugins")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    assert!(v.len() >= 7, "build the example first: make examples");
    v
}

fn shop(name: &str) -> Cluster {
    let c = Cluster::start(name);
    c.psql_in("postgres", "CREATE DATABASE shop");
    let setup = std::fs::read_to_string(root().join("examples/online/setup.sql")).expect("setup.sql");
    c.psql_in("shop", &setup.replace(":rows", ROWS));
    c
}

/// What the catalog says of the change: (region column, key, index).
fn catalog(c: &Cluster) -> String {
    c.psql_in(
        "shop",
        "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'shop.orders'::regclass
                  AND attname = 'region' AND NOT attisdropped)
             || ' ' || coalesce((SELECT CASE WHEN convalidated THEN 'valid' ELSE 'not-valid' END
                  FROM pg_constraint WHERE conname = 'orders_customer_fk'), 'no-key')
             || ' ' || coalesce((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END
                  FROM pg_index WHERE indexrelid = to_regclass('shop.orders_region_idx')), 'no-index')",
    )
}

#[test]
fn the_online_plan_runs_and_its_rollback_leaves_the_table_as_it_was() {
    let c = shop("online-plan");
    let plan = plan();
    let mut args = vec!["run", "--tiers"];
    args.extend(plan.iter().map(String::as_str));
    let r = Run::from(c.host_cmd_db("shop", &args).output().expect("host run"));
    r.expect_code(0);
    assert_eq!(catalog(&c), "1 valid valid", "{}", r.all());
    assert_eq!(c.psql_in("shop", "SELECT count(*) FROM shop.orders WHERE region IS NULL"), "0");

    let mut back = vec!["rollback", "--tiers"];
    back.extend(plan.iter().map(String::as_str));
    let r = Run::from(c.host_cmd_db("shop", &back).output().expect("host rollback"));
    r.expect_code(0);
    assert_eq!(catalog(&c), "0 no-key no-index", "{}", r.all());
}

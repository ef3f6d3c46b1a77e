//! `make fuzz SECONDS=600`: a deterministic mutation fuzzer for the grants
//! checker. The checker must never panic, abort or run long, whatever a
//! plugin sends; this throws the hostile corpus at it, mutated.
//!
//! Inputs start from `tests/plugins/data/hostile-corpus.sql` and a few
//! shapes of its own, and are mutated by a fixed-seed generator (`SEED=n`
//! to vary it): token splices from other statements, repeated clauses,
//! nested parentheses and subqueries, random bytes, huge identifiers and
//! deep nesting, and shapes the deparser is known to choke on. Each input is
//! written to `target/fuzz-check-last.sql` before it is checked, so an abort
//! (which kills the process) leaves its input behind.
//!
//! Oracles: no panic (a panic in the check thread comes back as a refusal
//! saying the checker failed, which counts as a crash here), no abort, no
//! check slower than `SLOW_MS` (default 5000), and an allowed statement's
//! re-emitted text is itself allowed, with the same accesses.
//!
//! cargo fuzz needs a libFuzzer build of the whole host; this runs on the
//! release build the host ships, where libpg_query has no C assertions:
//! it finds aborts, panics and slowness, not the assertions a debug build
//! would trip (the shapes known to trip them are in its mutations).

use host::manifest::Grants;
use host::sql::check::Checker;
use std::time::{Duration, Instant};

/// Shapes that broke the checker or libpg_query once, and building blocks.
const EXTRA: &[&str] = &[
    "SELECT trim(both from 'a', 'b', 'c')",
    "SELECT 1 OPERATOR(pg_catalog.public.=) 1",
    "CREATE TABLE one_roof.t (c int, EXCLUDE USING btree (c WITH a.b.=))",
    "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT rpad('', 260000000, 'x')",
    "SELECT code FROM one_roof.team WHERE code IN ('a', 'b') ORDER BY 1 LIMIT 3",
    "INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') ON CONFLICT DO NOTHING",
    "SELECT substring(code from 1 for 2), overlay('abc' placing 'x' from 2), position('a' in code) FROM one_roof.team",
    "SELECT * FROM NULLIF(1, 2)",
    "SELECT '1'::numeric(1 + 9)",
    "SELECT '1'::pg_catalog.interval(7)",
    "SELECT CAST('1' AS interval second(2))",
    "SELECT normalize('a', nfc), 'a' IS NFC NORMALIZED, extract(epoch from now()), timezone('utc', now())",
    // Issue 17: objects named by text, system columns, sizes.
    "SELECT setval('rollout_ledger.rollout_id_seq', 1), nextval('one_roof.t_id_seq')",
    "SELECT to_regclass(' \"One_Roof\" . \"te\"\"am\" '), 'one_roof.team'::regclass, 'int4[]'::regtype",
    "SELECT 'pg_catalog.+'::regoper, 'abs'::regproc, to_tsvector('english', code) FROM one_roof.team",
    "SELECT xmin, t.ctid, tableoid FROM one_roof.team t WHERE cmin = 0 ORDER BY xmax",
    "SELECT length(rpad('', abs(250000000), 'x')), repeat(code, 3), format('%*s', 9, code) FROM one_roof.team",
    "SELECT replace(replace(code, 'a', 'aaaa'), 'a', code), regexp_replace(code, '(a)', '\\1\\1', 'g') FROM one_roof.team",
    "SELECT string_agg(code, ','), array_agg(code), ARRAY(SELECT 1) FROM one_roof.team",
    "WITH RECURSIVE r(s, n) AS (SELECT 'x'::text, 1 UNION ALL SELECT r.s || t.code, r.n + 1 FROM r JOIN one_roof.team t ON true WHERE r.n < 3) SELECT * FROM r",
    "SELECT count(*) FROM generate_series(1, $1), generate_series(now(), now(), interval '1 h')",
    // Issue 20: schema changes under alter, index, create and drop grants.
    "ALTER TABLE one_roof.t ADD COLUMN c int DEFAULT 1 CHECK (c > 0), ALTER COLUMN b SET NOT NULL",
    "ALTER TABLE one_roof.t ADD CONSTRAINT k FOREIGN KEY (a) REFERENCES one_roof.team (code) NOT VALID",
    "ALTER TABLE one_roof.t VALIDATE CONSTRAINT k",
    "ALTER TABLE one_roof.t ALTER COLUMN a TYPE bigint USING a::bigint, DROP COLUMN b",
    "ALTER TABLE one_roof.t RENAME COLUMN a TO b",
    "CREATE UNIQUE INDEX t_i ON one_roof.t (lower(b) COLLATE \"C\" DESC NULLS LAST) INCLUDE (a) WHERE a > 0",
    "CREATE INDEX t_i ON one_roof.t USING gin (j jsonb_path_ops)",
    "DROP INDEX one_roof.t_i",
    "CREATE OR REPLACE VIEW one_roof.v (c) WITH (security_barrier) AS SELECT code FROM one_roof.team WHERE code <> 'x' WITH LOCAL CHECK OPTION",
    "CREATE RECURSIVE VIEW one_roof.v (n) AS VALUES (1) UNION ALL SELECT n + 1 FROM v WHERE n < 3",
    "DROP VIEW IF EXISTS one_roof.v",
    "ALTER TYPE one_roof.mood ADD VALUE IF NOT EXISTS 'x' BEFORE 'y'",
    "COMMENT ON COLUMN one_roof.t.a IS 'x'",
    "COMMENT ON CONSTRAINT k ON one_roof.t IS NULL",
    "COMMENT ON TYPE one_roof.mood IS 'x'",
];

/// Fragments spliced in: keywords, operators, odd names and literals.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    "::",
    "::int",
    "::numeric(10,2)",
    " OPERATOR(a.b.c.=) ",
    " OPERATOR(pg_catalog.+) ",
    " TRIM(BOTH FROM ",
    " trim(leading 'x' from ",
    " SUBSTRING(",
    " FROM ",
    " FOR ",
    " PLACING ",
    " SIMILAR ",
    " ESCAPE ",
    " WITH ",
    " RECURSIVE ",
    " AS ",
    " SELECT ",
    " UNION ALL ",
    " LATERAL ",
    " JOIN ",
    " ON true ",
    " WHERE ",
    " GROUP BY ",
    " HAVING ",
    " ORDER BY ",
    " USING ",
    " LIMIT ",
    " OFFSET ",
    " FETCH FIRST 1 ROWS ONLY ",
    " RETURNING * ",
    " DEFAULT ",
    " NULL ",
    " ROW(",
    " ARRAY[",
    " CASE WHEN ",
    " THEN ",
    " ELSE ",
    " END ",
    " COLLATE \"C\" ",
    " AT TIME ZONE 'utc' ",
    " IS NORMALIZED ",
    " OVERLAPS ",
    " BETWEEN SYMMETRIC ",
    " $1 ",
    " $65536 ",
    " U&\"\\0061\" ",
    " E'\\'' ",
    " $q$ ( $q$ ",
    " /* /* */ */ ",
    " -- x\n",
    " 'it''s' ",
    " x$a$ ",
    " 1e400 ",
    " -9223372036854775808 ",
    " B'101' ",
    " X'ff' ",
    " interval '1' second(3) ",
    " GROUPING SETS ((), (1)) ",
    " FILTER (WHERE true) ",
    " OVER (PARTITION BY 1 ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) ",
    " WITHIN GROUP (ORDER BY 1) ",
    " XMLEXISTS('x' PASSING 'y') ",
    " EXCLUDE USING gist (c WITH &&) ",
    " CHECK (c > 0) ",
    " GENERATED ALWAYS AS (1) STORED ",
    " one_roof.team ",
    " pg_catalog.pg_class ",
    " c.d.e.f ",
    " rpad('', 999999999, 'x') ",
    " generate_series(1, 1e12) ",
    " xmin ",
    " .ctid ",
    " 'rollout_ledger.rollout'::regclass ",
    " ::regclass ",
    " ::regtype[] ",
    " setval('one_roof.s', 1) ",
    " to_regclass(' ",
    " \"rollout_ledger\". ",
    " || code || code ",
    " repeat(code, 1000) ",
    " ROW(ROW(ROW(code))) ",
    " ADD COLUMN ",
    " DROP CONSTRAINT ",
    " NOT VALID ",
    " CREATE VIEW one_roof.v AS ",
    " WITH CASCADED CHECK OPTION ",
    " ADD VALUE ",
    " CONCURRENTLY ",
    " security_invoker ",
];

/// xorshift64*: small, fast, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A char boundary at or before `i`.
fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn span(rng: &mut Rng, s: &str) -> (usize, usize) {
    let a = boundary(s, rng.below(s.len() + 1));
    let b = boundary(s, a + rng.below(s.len() - a + 1));
    (a, b)
}

/// One mutation of `s`, using `seeds` for splices.
fn mutate(rng: &mut Rng, s: &str, seeds: &[String]) -> String {
    let (a, b) = span(rng, s);
    let (head, mid, tail) = (&s[..a], &s[a..b], &s[b..]);
    match rng.below(12) {
        0 => format!("{head}{}{tail}", rng.pick(FRAGMENTS)),
        1 => format!("{head}{}{mid}{tail}", rng.pick(FRAGMENTS)),
        2 => {
            let other = rng.pick(seeds);
            let (c, d) = span(rng, other);
            format!("{head}{}{tail}", &other[c..d])
        }
        3 => {
            let most = if rng.below(4) == 0 { 2000 } else { 8 };
            format!("{head}{}{tail}", mid.repeat(1 + rng.below(most)))
        }
        4 => {
            let most = if rng.below(4) == 0 { 5000 } else { 40 };
            let k = 1 + rng.below(most);
            format!("{head}{}{mid}{}{tail}", "(".repeat(k), ")".repeat(k))
        }
        5 => {
            let k = 1 + rng.below(60);
            format!("{head}{}{mid}{}{tail}", "(SELECT ".repeat(k), ")".repeat(k))
        }
        6 => {
            let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
            format!("{head}{}{tail}", String::from_utf8_lossy(&bytes))
        }
        7 => {
            let n = [62, 63, 64, 65, 200, 10_000, 70_000][rng.below(7)];
            let quote = if rng.below(2) == 0 { "\"" } else { "" };
            format!("{head}{quote}{}{quote}{tail}", "x".repeat(n))
        }
        8 => format!("{head}{tail}"),
        9 => {
            let k = 1 + rng.below(3000);
            let op = *rng.pick(&["+1", " AND true", " OR x", "::int", "[1]", " || 'x'", " NOT "]);
            format!("{head}{mid}{}{tail}", op.repeat(k))
        }
        10 => {
            let n = 1 + rng.below(2000);
            let ctes: Vec<String> =
                (0..n).map(|i| format!("c{i} AS (SELECT * FROM c{})", i.saturating_sub(1))).collect();
            format!("WITH RECURSIVE {} {s}", ctes.join(", "))
        }
        _ => format!("{head}{}{tail}", rng.pick(EXTRA)),
    }
}

fn main() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c0de);
    let slow = Duration::from_millis(std::env::var("SLOW_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(5000));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = std::fs::read_to_string(root.join("tests/plugins/data/hostile-corpus.sql")).expect("hostile corpus");
    let mut seeds: Vec<String> = corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
        .map(|l| l.replace("\\n", "\n"))
        .chain(EXTRA.iter().map(|s| s.to_string()))
        .collect();
    let last = root.join("target/fuzz-check-last.sql");
    let grants = Grants {
        read: vec!["one_roof.team".into()],
        insert: vec!["one_roof.label".into()],
        create: vec!["one_roof.t".into(), "one_roof.v".into()],
        drop: vec!["one_roof.v".into(), "one_roof.t_i".into()],
        alter: vec!["one_roof.t".into(), "one_roof.mood".into(), "one_roof.v".into()],
        index: vec!["one_roof.t".into()],
        references: vec!["one_roof.team".into()],
        ..Grants::default()
    };
    let checker = Checker::new(&grants, false);
    let mut rng = Rng(seed | 1);
    let (start, end) = (Instant::now(), Instant::now() + Duration::from_secs(seconds));
    let (mut inputs, mut allowed, mut failures) = (0u64, 0u64, 0u64);
    let mut slowest = (Duration::ZERO, 0usize);
    while Instant::now() < end {
        let base = rng.pick(&seeds).clone();
        let mut sql = base;
        for _ in 0..1 + rng.below(4) {
            sql = mutate(&mut rng, &sql, &seeds);
        }
        std::fs::write(&last, &sql).expect("write the current input");
        let t = Instant::now();
        let result = checker.check(&sql, rng.below(3));
        let took = t.elapsed();
        inputs += 1;
        if took > slowest.0 {
            slowest = (took, sql.len());
        }
        let mut fail = |why: String| {
            failures += 1;
            let path = root.join(format!("target/fuzz-check-failure-{failures}.sql"));
            std::fs::write(&path, &sql).expect("write the failing input");
            eprintln!("FAILURE {why}: input in {}", path.display());
        };
        if took > slow {
            fail(format!("check took {took:?}"));
        }
        match result {
            Err(r) if r.reason.starts_with("the checker failed") => fail(format!("panic: {r}")),
            Err(_) => {}
            Ok(c) => {
                allowed += 1;
                match checker.check(&c.sql, 2) {
                    Ok(again) if again.accesses == c.accesses && again.sql == c.sql => {}
                    other => fail(format!("re-emitted text {:?} checks differently: {other:?}", c.sql)),
                }
                // Allowed statements are good seeds: they reach the deparser.
                if seeds.len() < 20_000 && sql.len() < 4096 {
                    seeds.push(sql);
                }
            }
        }
        if inputs.is_multiple_of(5_000) {
            eprintln!("{inputs} inputs, {allowed} allowed, {failures} failures, {:?}", start.elapsed());
        }
    }
    println!(
        "fuzz_check: seed {seed}, {inputs} inputs in {:.0} s ({allowed} allowed), {failures} failures; slowest check {:.1} ms ({} bytes)",
        start.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}

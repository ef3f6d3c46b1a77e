-- The ledger: what was run against this database, by whom, under which
-- approval, and what each tier did. Created by the host under the rollout
-- lock; tier events are append-only.
--
-- Every statement is idempotent. The host runs this whole file, in one
-- transaction under the rollout lock, whenever the ledger is missing or
-- lacks the newest change below (ledger.rs, CURRENT): a new ledger and one
-- an older host created end up the same. A change to an existing table is
-- an ALTER … IF NOT EXISTS under "Upgrades", never an edit of its CREATE.
CREATE SCHEMA IF NOT EXISTS rollout_ledger;

CREATE TABLE IF NOT EXISTS rollout_ledger.rollout (
    id            bigserial PRIMARY KEY,
    verb          text NOT NULL,                       -- run, rollback
    operator      text NOT NULL,
    client_host   text NOT NULL,
    params        jsonb NOT NULL,
    approval_ref  text,
    gate_verdict  text,                                -- READY, BLOCKED
    plugins       jsonb NOT NULL,                      -- name, kind, ordinal, sha256, files
    host_version  text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz,
    outcome       text NOT NULL DEFAULT 'running',     -- running, complete, blocked, failed, interrupted, refused, rolled_back, abandoned, unknown
    message       text
);

CREATE TABLE IF NOT EXISTS rollout_ledger.tier_event (
    id            bigserial PRIMARY KEY,
    rollout_id    bigint NOT NULL REFERENCES rollout_ledger.rollout (id),
    plugin        text NOT NULL,
    ordinal       integer NOT NULL,
    sha256        text NOT NULL,
    event         text NOT NULL CHECK (event IN ('applied', 'failed', 'rolled_back', 'interrupted', 'verified')),
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms   bigint NOT NULL,
    statements    bigint NOT NULL,
    rows_changed  bigint NOT NULL,
    message       text
);

CREATE OR REPLACE FUNCTION rollout_ledger.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rollout_ledger.% is append-only', TG_TABLE_NAME;
END
$$;

DROP TRIGGER IF EXISTS tier_event_append_only ON rollout_ledger.tier_event;
CREATE TRIGGER tier_event_append_only
    BEFORE UPDATE OR DELETE ON rollout_ledger.tier_event
    FOR EACH ROW EXECUTE FUNCTION rollout_ledger.refuse_change();

-- Upgrades, oldest first. When adding one, make ledger.rs CURRENT look for it.

-- The report of the command that closed the rollout: everything report.json
-- and report.md show (gate, tiers, post-conditions, verify, probes, outcome,
-- message), so that `host report ID` writes them again byte for byte. NULL
-- while running, when abandoned, and for rollouts closed before this column.
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS report jsonb;

-- Whether every plugin ran as its own restricted role, proven before the
-- gate (`host run --roles`, or a lock file reviewed with roles). False for
-- rollouts before this column: no host switched roles then.
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS roles boolean NOT NULL DEFAULT false;

-- The steps of a tier that is not one transaction (manifest `mode`):
-- a statement that cannot run in a transaction block (kind `concurrent`:
-- recorded `started` before it is sent and `done` or `failed` after, with
-- the index it builds or drops, so an interrupted build is found again), or
-- a committed batch (kind `batch`: recorded `done` inside the batch's own
-- transaction with the plugin's position after it, so data and checkpoint
-- never disagree). `seq` counts 1, 2, … within a rollout's tier and phase.
CREATE TABLE IF NOT EXISTS rollout_ledger.step (
    id            bigserial PRIMARY KEY,
    rollout_id    bigint NOT NULL REFERENCES rollout_ledger.rollout (id),
    plugin        text NOT NULL,
    ordinal       integer NOT NULL,
    sha256        text NOT NULL,
    phase         text NOT NULL CHECK (phase IN ('apply', 'rollback')),
    kind          text NOT NULL CHECK (kind IN ('concurrent', 'batch')),
    seq           integer NOT NULL,
    state         text NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    statement     text,
    object        text,
    position      text,
    rows_changed  bigint NOT NULL DEFAULT 0,
    duration_ms   bigint NOT NULL DEFAULT 0,
    message       text,
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS step_by_plugin ON rollout_ledger.step (plugin, id);

DROP TRIGGER IF EXISTS step_append_only ON rollout_ledger.step;
CREATE TRIGGER step_append_only
    BEFORE UPDATE OR DELETE ON rollout_ledger.step
    FOR EACH ROW EXECUTE FUNCTION rollout_ledger.refuse_change();

-- A rollback by a reviewed replacement (`host rollback --lock`, the lock
-- file naming the plugin as a replacement of the applied sha256): its
-- rolled_back (or failed) event's sha256 is the replacement's, `replaces`
-- the sha256 that applied the tier. NULL for every other event.
ALTER TABLE rollout_ledger.tier_event ADD COLUMN IF NOT EXISTS replaces text;

-- The lock file the command ran under (`--lock`): the sha256 of its bytes
-- and, when `--allowed-signers` checked its signature, who signed it (the
-- principals of the allowed-signers line whose key signed it), that key's
-- fingerprint, and when the host checked it. NULL without a lock file, for
-- a signature not checked, and for rollouts before these columns.
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS lock_sha256 text;
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS lock_signer text;
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS lock_key text;
ALTER TABLE rollout_ledger.rollout ADD COLUMN IF NOT EXISTS lock_checked_at timestamptz;

-- The SQL each tier sent in a run, a rollback or a dry run, written with
-- the rollout's close, for `host inspect --sql PLUGIN`
-- (matched by the plugin's sha256): one row per distinct statement as
-- checked and sent (`seq` 1, 2, … in the order first sent; its parameters
-- as placeholder number and type, how many sends, how many failed, the rows they affected
-- and their time): every statement that may change rows or schema or
-- failed, and plain reads up to 200 per tier; each text cut at 4 KiB and
-- each parameter list at 1 KiB. A row `seq = 0` (no `sql`) counts in
-- `calls` the sends of plain reads left out; a row `seq = -1` (no `sql`)
-- the sends of changing statements left out past the listing's bytes.
CREATE TABLE IF NOT EXISTS rollout_ledger.statement (
    id             bigserial PRIMARY KEY,
    rollout_id     bigint NOT NULL REFERENCES rollout_ledger.rollout (id),
    plugin         text NOT NULL,
    ordinal        integer NOT NULL,
    sha256         text NOT NULL,
    seq            integer NOT NULL,
    sql            text,
    params         jsonb NOT NULL DEFAULT '[]',
    calls          bigint NOT NULL,
    failed         bigint NOT NULL DEFAULT 0,
    rows_affected  bigint NOT NULL DEFAULT 0,
    time_us        bigint NOT NULL DEFAULT 0,
    at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS statement_by_sha256 ON rollout_ledger.statement (sha256, id);

DROP TRIGGER IF EXISTS statement_append_only ON rollout_ledger.statement;
CREATE TRIGGER statement_append_only
    BEFORE UPDATE OR DELETE ON rollout_ledger.statement
    FOR EACH ROW EXECUTE FUNCTION rollout_ledger.refuse_change();

-- The role wall's own objects, in schema rollout_roles (host/src/roles/objects.rs
-- adds the functions, the trigger, every owner and grant, each name quoted).
-- Idempotent: `host roles apply` runs it in its transaction, and `host grants
-- --role-sql` prints it. No role name and no plugin text is in this file.
CREATE SCHEMA IF NOT EXISTS rollout_roles;

-- The roles rollout_roles.enter may grant the runner: the plugins' roles and
-- the ledger writer. Only its owner (rollout_roles_admin) writes it.
CREATE TABLE IF NOT EXISTS rollout_roles.allowed (
    role_name  name PRIMARY KEY
);

-- One row per running host command under roles: the sha256 of its random
-- key and the backend of its control connection, which holds the advisory
-- lock (1380928581, id) from rollout_roles.register until it unregisters or
-- its connection ends. A key whose lock is gone is useless and is deleted
-- by the next register. Nobody but its owner reads it.
CREATE TABLE IF NOT EXISTS rollout_roles.key (
    id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest  bytea NOT NULL UNIQUE,
    pid     integer NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A row per rollout_roles.enter, deleted by rollout_roles.leave in the same
-- transaction: its deferred trigger (left_nothing) refuses a COMMIT while
-- the session user still holds a membership, so none is ever committed.
CREATE TABLE IF NOT EXISTS rollout_roles.entry (
    pid  integer NOT NULL
);


-- rollout_roles.unregister(key_digest): the command that registered the key
-- ends: its row is deleted and its lock released (a connection that ends
-- releases the lock anyway, which makes the key useless).
DECLARE
    entry_id integer;
BEGIN
    DELETE FROM rollout_roles.key k
    WHERE k.digest = key_digest AND k.pid = pg_catalog.pg_backend_pid()
    RETURNING k.id INTO entry_id;
    IF entry_id IS NOT NULL THEN
        PERFORM pg_catalog.pg_advisory_unlock(1380928581, entry_id);
    END IF;
END


-- rollout_roles.register(key_digest): the control connection of a host
-- command records the sha256 of its random key, tied to its own backend,
-- which takes the advisory lock (1380928581, id) for as long as it lives.
-- Keys whose lock is gone (their command ended or died) are deleted first.
DECLARE
    entry_id integer;
BEGIN
    DELETE FROM rollout_roles.key k
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'advisory' AND l.classid = 1380928581::oid AND l.objid = k.id::oid
          AND l.objsubid = 2 AND l.pid = k.pid AND l.granted);
    INSERT INTO rollout_roles.key (digest, pid) VALUES (key_digest, pg_catalog.pg_backend_pid())
    RETURNING id INTO entry_id;
    IF NOT pg_catalog.pg_try_advisory_lock(1380928581, entry_id) THEN
        RAISE EXCEPTION 'rollout_roles.register: the lock of key % is held by another session', entry_id;
    END IF;
END

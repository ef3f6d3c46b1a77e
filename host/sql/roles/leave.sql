
-- rollout_roles.leave(key): the session user (the runner) is a member of
-- none of the roles rollout_roles.enter grants again, for a caller
-- presenting a registered key. The host calls it after RESET ROLE, before
-- its own next statement and before COMMIT.
DECLARE
    held name;
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM rollout_roles.key k
        JOIN pg_catalog.pg_locks l
          ON l.locktype = 'advisory' AND l.classid = 1380928581::oid AND l.objid = k.id::oid
         AND l.objsubid = 2 AND l.pid = k.pid AND l.granted
        WHERE k.digest = pg_catalog.sha256(key)
    ) THEN
        RAISE EXCEPTION 'rollout_roles.leave: this key belongs to no running host command'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM rollout_roles.entry e WHERE e.pid = pg_catalog.pg_backend_pid();
    FOR held IN
        SELECT a.role_name
        FROM rollout_roles.allowed a
        JOIN pg_catalog.pg_roles r ON r.rolname = a.role_name
        JOIN pg_catalog.pg_auth_members m ON m.roleid = r.oid
        WHERE m.member = (SELECT s.oid FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
    LOOP
        EXECUTE pg_catalog.format('REVOKE %I FROM %I', held, session_user);
    END LOOP;
END

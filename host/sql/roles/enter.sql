
-- rollout_roles.enter(key, role): for the caller's transaction only, the
-- session user (the runner) becomes a member of exactly `role`, and of no
-- other role this function grants. Only for a caller presenting a key whose
-- sha256 a running host command registered; only roles in
-- rollout_roles.allowed. The host calls it inside its own transaction and
-- calls rollout_roles.leave before COMMIT; rollout_roles.left_nothing
-- refuses a COMMIT that still holds the membership.
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
        RAISE EXCEPTION 'rollout_roles.enter: this key belongs to no running host command'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout_roles.allowed a WHERE a.role_name = role) THEN
        RAISE EXCEPTION 'rollout_roles.enter: role % is not in rollout_roles.allowed; run host roles apply', role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR held IN
        SELECT a.role_name
        FROM rollout_roles.allowed a
        JOIN pg_catalog.pg_roles r ON r.rolname = a.role_name
        JOIN pg_catalog.pg_auth_members m ON m.roleid = r.oid
        WHERE m.member = (SELECT s.oid FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
    LOOP
        EXECUTE pg_catalog.format('REVOKE %I FROM %I', held, session_user);
    END LOOP;
    INSERT INTO rollout_roles.entry (pid) VALUES (pg_catalog.pg_backend_pid());
    EXECUTE pg_catalog.format('GRANT %I TO %I', role, session_user);
    RETURN role;
END


-- The deferred constraint trigger on rollout_roles.entry: at COMMIT of a
-- transaction that called rollout_roles.enter, the session user must hold
-- no role membership (rollout_roles.leave took it back); otherwise the
-- COMMIT fails and nothing of the transaction is kept.
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_catalog.pg_auth_members m
        WHERE m.member = (SELECT s.oid FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
    ) THEN
        RAISE EXCEPTION 'rollout_roles: session user % still holds a role membership at COMMIT; nothing of this transaction is kept', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END

-- The governance sign-off, which happens outside the runner: ratify the ospa
-- approval APR-2026-0412. After this the gate is READY.
--   psql -v ON_ERROR_STOP=1 -d directus -f sql/ratify.sql
UPDATE one_roof.approval
SET status = 'ratified', ratified_by = 'governance-board', ratified_at = now()
WHERE code = 'APR-2026-0412';

-- One-Roof baseline fixture (ONE-ROOF.md): the production `directus` database
-- as it stands before the release. Load into an empty database:
--   psql -v ON_ERROR_STOP=1 -d directus -f sql/baseline.sql
-- Today's state: the ospa approval is still a draft, so the gate is BLOCKED.

BEGIN;

CREATE SCHEMA one_roof;

CREATE TABLE one_roof.approval (
    code        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('ospa', 'change')),
    status      text NOT NULL CHECK (status IN ('draft', 'ratified', 'revoked')),
    ratified_by text,
    ratified_at timestamptz
);

CREATE TABLE one_roof.team (
    code text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE one_roof.resp_area (
    id     bigint PRIMARY KEY,
    code   text NOT NULL UNIQUE,
    domain text NOT NULL CHECK (domain IN ('core', 'edge', 'ops'))
);

CREATE TABLE one_roof.responsibility (
    id      bigint PRIMARY KEY,
    area_id bigint NOT NULL REFERENCES one_roof.resp_area (id),
    code    text NOT NULL UNIQUE,
    title   text NOT NULL
);

CREATE TABLE one_roof.resp_ownership (
    id           bigserial PRIMARY KEY,
    area_id      bigint NOT NULL REFERENCES one_roof.resp_area (id),
    team_code    text NOT NULL REFERENCES one_roof.team (code),
    approval_ref text NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE one_roof.classification_axis (
    code   text PRIMARY KEY,
    title  text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'active', 'retired'))
);

CREATE TABLE one_roof.axis_node (
    id        bigserial PRIMARY KEY,
    axis_code text NOT NULL REFERENCES one_roof.classification_axis (code),
    code      text NOT NULL,
    UNIQUE (axis_code, code)
);

CREATE TABLE one_roof.containment (
    responsibility_id bigint NOT NULL REFERENCES one_roof.responsibility (id),
    node_id           bigint NOT NULL REFERENCES one_roof.axis_node (id),
    PRIMARY KEY (responsibility_id, node_id)
);

CREATE TABLE one_roof.ui_projection (
    responsibility_id bigint PRIMARY KEY REFERENCES one_roof.responsibility (id),
    area_code         text NOT NULL,
    owner_team        text NOT NULL,
    node_code         text NOT NULL,
    label             text NOT NULL
);

CREATE TABLE one_roof.label (
    id                bigserial PRIMARY KEY,
    responsibility_id bigint NOT NULL,
    text              text NOT NULL
);

CREATE TABLE one_roof.drift_finding (
    id       bigserial PRIMARY KEY,
    subject  text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status   text NOT NULL CHECK (status IN ('open', 'resolved'))
);

CREATE TABLE one_roof.kg_domain (
    code   text PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('draft', 'active'))
);

CREATE TABLE one_roof.event_type_registry (
    code   text PRIMARY KEY,
    active boolean NOT NULL DEFAULT false
);

CREATE TABLE one_roof.gov_outbox (
    id         bigserial PRIMARY KEY,
    event_type text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The prerequisite views the gate asks for.
CREATE VIEW one_roof.v_resp_gap AS
SELECT r.id, r.code, a.code AS area_code
FROM one_roof.responsibility r
JOIN one_roof.resp_area a ON a.id = r.area_id
WHERE NOT EXISTS (SELECT 1 FROM one_roof.resp_ownership o WHERE o.area_id = r.area_id);

CREATE VIEW one_roof.v_axis_active AS
SELECT code, title FROM one_roof.classification_axis WHERE status = 'active';

-- Content.
INSERT INTO one_roof.approval (code, kind, status) VALUES ('APR-2026-0412', 'ospa', 'draft');

INSERT INTO one_roof.team (code, name)
SELECT format('T%s', lpad(n::text, 2, '0')), format('Team %s', n)
FROM generate_series(1, 10) AS n;

-- 30 areas over 3 domains, 10 each: core-01..10, edge-01..10, ops-01..10.
INSERT INTO one_roof.resp_area (id, code, domain)
SELECT (d.i - 1) * 10 + n, format('%s-%s', d.domain, lpad(n::text, 2, '0')), d.domain
FROM (VALUES (1, 'core'), (2, 'edge'), (3, 'ops')) AS d (i, domain),
     generate_series(1, 10) AS n;

-- 210 responsibilities, 7 per area.
INSERT INTO one_roof.responsibility (id, area_id, code, title)
SELECT (a.id - 1) * 7 + k, a.id, format('%s.r%s', a.code, k), format('Responsibility %s of %s', k, a.code)
FROM one_roof.resp_area a, generate_series(1, 7) AS k;

INSERT INTO one_roof.classification_axis (code, title, status) VALUES
    ('lifecycle', 'Lifecycle', 'active'),
    ('product', 'Product', 'active');

INSERT INTO one_roof.axis_node (axis_code, code) VALUES
    ('lifecycle', 'build'), ('lifecycle', 'run'),
    ('product', 'platform'), ('product', 'portal');

-- Existing containment under the two existing axes only.
INSERT INTO one_roof.containment (responsibility_id, node_id)
SELECT r.id, n.id
FROM one_roof.responsibility r
JOIN one_roof.axis_node n
  ON (n.axis_code = 'lifecycle' AND n.code = CASE WHEN r.id % 2 = 0 THEN 'build' ELSE 'run' END)
  OR (n.axis_code = 'product' AND n.code = CASE WHEN r.id % 3 = 0 THEN 'portal' ELSE 'platform' END);

INSERT INTO one_roof.drift_finding (subject, severity, status) VALUES
    ('stale_label', 'info', 'open'),
    ('naming', 'info', 'open'),
    ('orphan_node', 'warning', 'open'),
    ('duplicate_title', 'warning', 'open'),
    ('unowned_area', 'critical', 'open'),
    ('unowned_area', 'critical', 'open');

INSERT INTO one_roof.kg_domain (code, status) VALUES ('kg_domain_x', 'draft');

INSERT INTO one_roof.event_type_registry (code, active) VALUES
    ('responsibility.changed', false),
    ('team.changed', false),
    ('axis.changed', false);

COMMIT;

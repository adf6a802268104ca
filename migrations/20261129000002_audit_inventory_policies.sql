-- Audit trail, the tenant's policies, inventory sync runs (drift inputs) and
-- backup sets. Every tenant-owned table is keyed by (tenant_id, id) and every
-- reference between them carries tenant_id, so a row can never point at another
-- tenant's row and the tables can be distributed by tenant_id.

CREATE TABLE audit_logs (
    tenant_id      bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    actor_user_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    action         text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{0,99}$'),
    subject_type   text        NOT NULL CHECK (length(subject_type) BETWEEN 1 AND 100),
    subject_id     bigint,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX audit_logs_subject_idx ON audit_logs (tenant_id, subject_type, subject_id, created_at);

-- The tenant's current policies, as last imported by an inventory sync.
CREATE TABLE policies (
    tenant_id      bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    external_id    text        NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    policy_type    text        NOT NULL CHECK (length(policy_type) BETWEEN 1 AND 100),
    display_name   text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 300),
    settings       jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    assignments    jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(assignments) = 'array'),
    settings_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT policies_external_id_key UNIQUE (tenant_id, external_id)
);

CREATE TABLE inventory_sync_runs (
    tenant_id       bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    selection_hash  text        NOT NULL CHECK (length(selection_hash) BETWEEN 1 AND 128),
    selection       jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(selection) = 'object'),
    status          text        NOT NULL DEFAULT 'running'
                                CHECK (status IN ('running', 'completed', 'failed')),
    items_observed  integer     NOT NULL DEFAULT 0 CHECK (items_observed >= 0),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT inventory_sync_runs_finished_check
        CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX inventory_sync_runs_scope_idx
    ON inventory_sync_runs (tenant_id, selection_hash, finished_at DESC);

-- What one inventory sync observed: one row per subject.
CREATE TABLE inventory_items (
    tenant_id               bigint      NOT NULL,
    id                      bigint GENERATED ALWAYS AS IDENTITY,
    inventory_sync_run_id   bigint      NOT NULL,
    subject_type            text        NOT NULL CHECK (length(subject_type) BETWEEN 1 AND 100),
    subject_external_id     text        NOT NULL CHECK (length(subject_external_id) BETWEEN 1 AND 200),
    display_name            text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 300),
    settings                jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    settings_hash           text        NOT NULL,
    observed_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, inventory_sync_run_id)
        REFERENCES inventory_sync_runs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT inventory_items_subject_key
        UNIQUE (tenant_id, inventory_sync_run_id, subject_type, subject_external_id)
);

CREATE TABLE backup_sets (
    tenant_id    bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT backup_sets_name_key UNIQUE (tenant_id, name)
);

-- A policy's snapshot as copied into a backup set. One per policy and set, so
-- adding the same policy twice (or replaying after a crash) never duplicates it.
CREATE TABLE backup_items (
    tenant_id             bigint      NOT NULL,
    id                    bigint GENERATED ALWAYS AS IDENTITY,
    backup_set_id         bigint      NOT NULL,
    policy_id             bigint      NOT NULL,
    policy_external_id    text        NOT NULL,
    display_name          text        NOT NULL,
    snapshot              jsonb       NOT NULL CHECK (jsonb_typeof(snapshot) = 'object'),
    assignments           jsonb       CHECK (assignments IS NULL OR jsonb_typeof(assignments) = 'array'),
    settings_hash         text        NOT NULL,
    captured_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, backup_set_id) REFERENCES backup_sets (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, policy_id) REFERENCES policies (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT backup_items_policy_key UNIQUE (tenant_id, backup_set_id, policy_id)
);

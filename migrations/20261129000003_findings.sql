-- Drift findings: what changed between a baseline and a current inventory sync
-- of one scope. The fingerprint is deterministic, so regenerating drift for the
-- same inputs updates findings instead of duplicating them.

CREATE TABLE findings (
    tenant_id                bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                       bigint GENERATED ALWAYS AS IDENTITY,
    finding_type             text        NOT NULL DEFAULT 'drift' CHECK (finding_type IN ('drift')),
    scope_key                text        NOT NULL CHECK (length(scope_key) BETWEEN 1 AND 128),
    baseline_run_id          bigint,
    current_run_id           bigint,
    fingerprint              text        NOT NULL CHECK (length(fingerprint) BETWEEN 1 AND 128),
    subject_type             text        NOT NULL CHECK (length(subject_type) BETWEEN 1 AND 100),
    subject_external_id      text        NOT NULL CHECK (length(subject_external_id) BETWEEN 1 AND 200),
    status                   text        NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'acknowledged')),
    evidence_jsonb           jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(evidence_jsonb) = 'object'),
    acknowledged_at          timestamptz,
    acknowledged_by_user_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, baseline_run_id) REFERENCES inventory_sync_runs (tenant_id, id),
    FOREIGN KEY (tenant_id, current_run_id) REFERENCES inventory_sync_runs (tenant_id, id),
    CONSTRAINT findings_fingerprint_key UNIQUE (tenant_id, fingerprint),
    CONSTRAINT findings_acknowledged_check
        CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL))
);

CREATE INDEX findings_scope_idx
    ON findings (tenant_id, scope_key, baseline_run_id, current_run_id, id DESC);
CREATE INDEX findings_status_idx ON findings (tenant_id, status, id DESC);

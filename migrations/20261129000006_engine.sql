-- What the run engine needs beyond the hub's tables: uploaded inventory
-- snapshots (the raw input of an inventory.sync run, kept out of item_ids), and
-- the link from an inventory sync back to the run that produced it.

CREATE TABLE inventory_snapshots (
    tenant_id     bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    content_hash  text        NOT NULL,
    selection     jsonb       NOT NULL CHECK (jsonb_typeof(selection) = 'object'),
    policies      jsonb       NOT NULL CHECK (jsonb_typeof(policies) = 'array'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT inventory_snapshots_content_key UNIQUE (tenant_id, content_hash)
);

ALTER TABLE inventory_sync_runs ADD COLUMN bulk_operation_run_id bigint;
CREATE UNIQUE INDEX inventory_sync_runs_bulk_run_key
    ON inventory_sync_runs (tenant_id, bulk_operation_run_id)
    WHERE bulk_operation_run_id IS NOT NULL;

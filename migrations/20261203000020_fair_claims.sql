-- Claims are fair between tenants: workers walk the tenants that have
-- pending runs and take the oldest runs of each in turn, so the queue is
-- read per tenant rather than as one global line.
DROP INDEX IF EXISTS bulk_operation_runs_pending_idx;
CREATE INDEX bulk_operation_runs_pending_tenant_idx
    ON bulk_operation_runs (tenant_id, created_at, id) WHERE status = 'pending';

-- Running runs are few, and their lease moves on every heartbeat and every
-- recorded batch. With the lease time out of every index those updates stay
-- HOT (no index writes); the claim finds expired leases among the running
-- runs of this index, which also counts a tenant's running runs.
DROP INDEX IF EXISTS bulk_operation_runs_lease_idx;
CREATE INDEX bulk_operation_runs_running_idx
    ON bulk_operation_runs (tenant_id) WHERE status = 'running';

-- Room on each page for the new versions of HOT updates.
ALTER TABLE bulk_operation_runs SET (fillfactor = 85);

-- The engine looks up a running run by (tenant_id, id) with status =
-- 'running' in its completion, heartbeat, batch and release statements.
-- Keyed by tenant alone, this partial index matched those lookups too, and
-- workers' generic plans used it: each lookup then read every running run
-- of the tenant (hundreds while a backlog burns). Keyed by run, the same
-- index answers a lookup with one entry and still counts a tenant's running
-- runs.
DROP INDEX IF EXISTS bulk_operation_runs_running_idx;
CREATE INDEX bulk_operation_runs_running_idx
    ON bulk_operation_runs (tenant_id, id) WHERE status = 'running';

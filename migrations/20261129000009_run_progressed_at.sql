-- When a running run last made progress: set when a worker claims it and on
-- every batch of items it records. Heartbeats keep the lease alive but are not
-- progress, so a run whose worker is alive but stuck shows up as stalled
-- (running, with no progress for longer than the hub's threshold).
ALTER TABLE bulk_operation_runs ADD COLUMN progressed_at timestamptz;
UPDATE bulk_operation_runs SET progressed_at = coalesce(heartbeat_at, started_at)
WHERE status = 'running';

-- Claims filter runs by kind (resource.action): with statistics on that
-- expression the planner reads a tenant's pending runs in index order and
-- stops after the claim's limit, instead of sorting all of them.
CREATE STATISTICS bulk_operation_runs_kind_stats ON ((resource || '.' || action)) FROM bulk_operation_runs;
ANALYZE bulk_operation_runs;

-- A backup set's page lists the runs that added to it, newest first.
CREATE INDEX bulk_operation_runs_backup_set_idx
    ON bulk_operation_runs (tenant_id, (item_ids->>'backup_set_id'), created_at DESC, id DESC)
    WHERE resource = 'backup_set';

-- Per-item failures of a run, stored so that recording them costs the same
-- per failure however many a run already has, and read a page at a time.
--
--   bulk_operation_run_failures        one row per item entry (failure or skip)
--   bulk_operation_run_failure_counts  entries per (skipped, reason_code), upserted per batch
--   bulk_operation_runs.failures       a bounded sample: the run-level entries
--                                      (fatal reason, cancelled) and the first
--                                      item entries, for quick looks
--
-- Only the engine writes these (engine/failures.rs), and a finished run's
-- rows cannot change, like its counters.

CREATE TABLE bulk_operation_run_failures (
    tenant_id    bigint  NOT NULL,
    run_id       bigint  NOT NULL,
    -- Recording order; the keyset cursor of the item pages.
    id           bigint  GENERATED ALWAYS AS IDENTITY,
    skipped      boolean NOT NULL,
    reason_code  text    NOT NULL CHECK (length(reason_code) BETWEEN 1 AND 64),
    reason       text    NOT NULL CHECK (length(reason) <= 400),
    item_id      text    NOT NULL CHECK (length(item_id) BETWEEN 1 AND 300),
    -- Pages per reason, and the export, read this index in order.
    PRIMARY KEY (tenant_id, run_id, skipped, reason_code, id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES bulk_operation_runs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE bulk_operation_run_failure_counts (
    tenant_id    bigint  NOT NULL,
    run_id       bigint  NOT NULL,
    skipped      boolean NOT NULL,
    reason_code  text    NOT NULL CHECK (length(reason_code) BETWEEN 1 AND 64),
    -- The first reason recorded under this code.
    reason       text    NOT NULL CHECK (length(reason) <= 400),
    -- Every entry, item or run-level.
    entries      integer NOT NULL CHECK (entries > 0),
    PRIMARY KEY (tenant_id, run_id, skipped, reason_code),
    FOREIGN KEY (tenant_id, run_id) REFERENCES bulk_operation_runs (tenant_id, id) ON DELETE CASCADE
);

-- The overview ranks failure reasons over a window of runs: by run, then code.
CREATE INDEX bulk_operation_run_failure_counts_code_idx
    ON bulk_operation_run_failure_counts (tenant_id, reason_code) WHERE NOT skipped;

-- Backfill: move the item entries of every run into the new tables, count
-- every entry, and keep on the run only its run-level entries and the first
-- 50 item entries. Finished runs are immutable, so the lifecycle trigger is
-- off for this one rewrite.
CREATE TEMP TABLE failure_backfill AS
SELECT r.tenant_id, r.id AS run_id, e.ord, e.entry,
       e.entry->>'reason_code' AS reason_code,
       coalesce(e.entry->>'reason', '') AS reason,
       nullif(e.entry->>'item_id', '') AS item_id,
       coalesce(e.entry->>'type', '') = 'skipped' AS skipped
FROM bulk_operation_runs r
CROSS JOIN LATERAL jsonb_array_elements(r.failures) WITH ORDINALITY AS e(entry, ord)
WHERE jsonb_typeof(r.failures) = 'array'
  AND jsonb_typeof(e.entry) = 'object'
  AND coalesce(e.entry->>'reason_code', '') <> '';

INSERT INTO bulk_operation_run_failures (tenant_id, run_id, skipped, reason_code, reason, item_id)
SELECT tenant_id, run_id, skipped, left(reason_code, 64), left(reason, 400), left(item_id, 300)
FROM failure_backfill WHERE item_id IS NOT NULL
ORDER BY tenant_id, run_id, ord;

INSERT INTO bulk_operation_run_failure_counts (tenant_id, run_id, skipped, reason_code, reason, entries)
SELECT tenant_id, run_id, skipped, left(reason_code, 64),
       left((array_agg(reason ORDER BY ord))[1], 400), count(*)
FROM failure_backfill
GROUP BY tenant_id, run_id, skipped, left(reason_code, 64);

ALTER TABLE bulk_operation_runs DISABLE TRIGGER bulk_operation_runs_lifecycle;
UPDATE bulk_operation_runs r
SET failures = s.sample
FROM (
    SELECT tenant_id, run_id, jsonb_agg(entry ORDER BY ord) AS sample
    FROM (
        SELECT b.*, count(item_id) OVER (PARTITION BY tenant_id, run_id ORDER BY ord) AS nth_item
        FROM failure_backfill b
    ) numbered
    WHERE item_id IS NULL OR nth_item <= 50
    GROUP BY tenant_id, run_id
) s
WHERE r.tenant_id = s.tenant_id AND r.id = s.run_id AND r.failures IS DISTINCT FROM s.sample;
ALTER TABLE bulk_operation_runs ENABLE TRIGGER bulk_operation_runs_lifecycle;
DROP TABLE failure_backfill;

-- A finished run's failures and counts cannot be added to, changed or
-- removed, except together with the run itself.
CREATE FUNCTION bulk_operation_run_failures_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    finished_run bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT r.id INTO finished_run
        FROM (SELECT DISTINCT tenant_id, run_id FROM old_rows) o
        JOIN bulk_operation_runs r ON r.tenant_id = o.tenant_id AND r.id = o.run_id
        WHERE r.status NOT IN ('pending', 'running')
        LIMIT 1;
    ELSE
        SELECT r.id INTO finished_run
        FROM (SELECT DISTINCT tenant_id, run_id FROM new_rows) n
        JOIN bulk_operation_runs r ON r.tenant_id = n.tenant_id AND r.id = n.run_id
        WHERE r.status NOT IN ('pending', 'running')
        LIMIT 1;
    END IF;
    IF finished_run IS NOT NULL THEN
        RAISE EXCEPTION 'run % is finished; its failures cannot change', finished_run
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'bulk_operation_runs_finished_immutable';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER bulk_operation_run_failures_insert AFTER INSERT ON bulk_operation_run_failures
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();
CREATE TRIGGER bulk_operation_run_failures_update AFTER UPDATE ON bulk_operation_run_failures
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();
CREATE TRIGGER bulk_operation_run_failures_delete AFTER DELETE ON bulk_operation_run_failures
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();
CREATE TRIGGER bulk_operation_run_failure_counts_insert AFTER INSERT ON bulk_operation_run_failure_counts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();
CREATE TRIGGER bulk_operation_run_failure_counts_update AFTER UPDATE ON bulk_operation_run_failure_counts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();
CREATE TRIGGER bulk_operation_run_failure_counts_delete AFTER DELETE ON bulk_operation_run_failure_counts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bulk_operation_run_failures_guard();

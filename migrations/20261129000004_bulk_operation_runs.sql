-- The canonical record of every long-running operation, and the run engine's queue.

CREATE TABLE bulk_operation_runs (
    tenant_id            bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   bigint GENERATED ALWAYS AS IDENTITY,
    user_id              bigint      NOT NULL REFERENCES users (id),
    resource             text        NOT NULL CHECK (resource ~ '^[a-z][a-z0-9_]{0,63}$'),
    action               text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]{0,63}$'),
    idempotency_key      text        CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    status               text        NOT NULL DEFAULT 'pending'
        CONSTRAINT bulk_operation_runs_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'aborted')),
    total_items          integer,
    processed_items      integer     NOT NULL DEFAULT 0,
    succeeded            integer     NOT NULL DEFAULT 0,
    failed               integer     NOT NULL DEFAULT 0,
    skipped              integer     NOT NULL DEFAULT 0,
    item_ids             jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(item_ids) = 'object'),
    failures             jsonb       CHECK (failures IS NULL OR jsonb_typeof(failures) = 'array'),
    audit_log_id         bigint,
    -- Engine bookkeeping: when work began and ended, who holds the lease and
    -- until when, how often it was claimed, and whether cancel was requested.
    started_at           timestamptz,
    finished_at          timestamptz,
    lease_owner          text,
    lease_expires_at     timestamptz,
    heartbeat_at         timestamptz,
    attempts             integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    cancel_requested_at  timestamptz,
    deduplicated_starts  integer     NOT NULL DEFAULT 0 CHECK (deduplicated_starts >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, audit_log_id) REFERENCES audit_logs (tenant_id, id),
    CONSTRAINT bulk_operation_runs_counters_non_negative_check
        CHECK ((total_items IS NULL OR total_items >= 0)
          AND processed_items >= 0 AND succeeded >= 0 AND failed >= 0 AND skipped >= 0),
    CONSTRAINT bulk_operation_runs_counters_sum_check
        CHECK (succeeded + failed + skipped = processed_items),
    CONSTRAINT bulk_operation_runs_counters_total_check
        CHECK (total_items IS NULL OR processed_items <= total_items),
    CONSTRAINT bulk_operation_runs_finished_check
        CHECK ((status IN ('pending', 'running')) = (finished_at IS NULL)),
    CONSTRAINT bulk_operation_runs_started_check
        CHECK (status <> 'running' OR started_at IS NOT NULL)
);

-- At most one active run per tenant and idempotency key.
CREATE UNIQUE INDEX bulk_operation_runs_active_idempotency_key
    ON bulk_operation_runs (tenant_id, idempotency_key)
    WHERE status IN ('pending', 'running');

-- Runs list (newest first, keyset on created_at, id), per status, and search by key.
CREATE INDEX bulk_operation_runs_tenant_created_idx
    ON bulk_operation_runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX bulk_operation_runs_tenant_status_created_idx
    ON bulk_operation_runs (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX bulk_operation_runs_tenant_key_idx
    ON bulk_operation_runs (tenant_id, idempotency_key);
-- The queue: oldest pending first, and running runs whose lease may expire.
CREATE INDEX bulk_operation_runs_pending_idx
    ON bulk_operation_runs (created_at, id) WHERE status = 'pending';
CREATE INDEX bulk_operation_runs_lease_idx
    ON bulk_operation_runs (lease_expires_at) WHERE status = 'running';

-- Status changes follow the lifecycle, enforced here for every writer:
--   created pending; pending -> running | aborted;
--   running -> completed | completed_with_errors | failed | aborted.
-- Identity columns never change.
CREATE FUNCTION bulk_operation_runs_enforce_lifecycle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' THEN
            RAISE EXCEPTION 'a run starts as pending, not %', NEW.status
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'bulk_operation_runs_status_transition';
        END IF;
        RETURN NEW;
    END IF;

    IF NEW.tenant_id <> OLD.tenant_id OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id
       OR NEW.resource <> OLD.resource OR NEW.action <> OLD.action
       OR NEW.item_ids IS DISTINCT FROM OLD.item_ids
       OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'the identity and scope of run % cannot change', OLD.id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'bulk_operation_runs_immutable';
    END IF;

    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'pending' AND NEW.status IN ('running', 'aborted'))
        OR (OLD.status = 'running' AND NEW.status IN ('completed', 'completed_with_errors', 'failed', 'aborted'))
    ) THEN
        RAISE EXCEPTION 'run % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'bulk_operation_runs_status_transition';
    END IF;

    IF OLD.status NOT IN ('pending', 'running') AND (
           NEW.total_items IS DISTINCT FROM OLD.total_items
        OR NEW.processed_items <> OLD.processed_items
        OR NEW.succeeded <> OLD.succeeded OR NEW.failed <> OLD.failed OR NEW.skipped <> OLD.skipped
        OR NEW.failures IS DISTINCT FROM OLD.failures) THEN
        RAISE EXCEPTION 'run % is finished; its outcome cannot change', OLD.id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'bulk_operation_runs_finished_immutable';
    END IF;

    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER bulk_operation_runs_lifecycle
    BEFORE INSERT OR UPDATE ON bulk_operation_runs
    FOR EACH ROW EXECUTE FUNCTION bulk_operation_runs_enforce_lifecycle();

-- Database notifications in the shape of Laravel's `notifications` table, plus
-- tenant_id so they are scoped (and distributable) by tenant like everything else.

CREATE TABLE notifications (
    tenant_id        bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               uuid        NOT NULL,
    type             text        NOT NULL CHECK (length(type) BETWEEN 1 AND 200),
    notifiable_type  text        NOT NULL CHECK (length(notifiable_type) BETWEEN 1 AND 200),
    notifiable_id    bigint      NOT NULL,
    data             jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    read_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- The bell: a user's latest notifications, and the unread ones.
CREATE INDEX notifications_notifiable_idx
    ON notifications (tenant_id, notifiable_type, notifiable_id, created_at DESC, id);
CREATE INDEX notifications_unread_idx
    ON notifications (tenant_id, notifiable_type, notifiable_id, created_at DESC)
    WHERE read_at IS NULL;

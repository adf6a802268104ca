-- A session names its user and current tenant beside its serialized data,
-- written with it by the hub's session store, so a request finds its
-- session and checks the membership in one statement. Sessions stored
-- before have neither and are read from their data as before.
ALTER TABLE user_sessions
    ADD COLUMN user_id bigint,
    ADD COLUMN tenant_id bigint;

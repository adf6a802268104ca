-- Signed-in sessions. The layout is the one the session store reads and
-- writes (id, serialized data, expiry); the data holds the user id and the
-- current tenant id, both re-checked against memberships on every request.
CREATE TABLE user_sessions (
    id          text PRIMARY KEY NOT NULL,
    data        bytea NOT NULL,
    expiry_date timestamptz NOT NULL
);
CREATE INDEX user_sessions_expiry ON user_sessions (expiry_date);

-- Failed sign-in attempts, kept for a day: they slow down password guessing
-- per email address and per client address.
CREATE TABLE sign_in_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email     text NOT NULL,
    client    text,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_email ON sign_in_failures (email, failed_at);
CREATE INDEX sign_in_failures_client ON sign_in_failures (client, failed_at);
CREATE INDEX sign_in_failures_age ON sign_in_failures (failed_at);

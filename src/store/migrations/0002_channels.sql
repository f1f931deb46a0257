-- 0002_channels.sql -- users and sessions, roles of API keys, OAuth states, per-channel
-- settings (auto-responder, badge icon, admin-set region and origin) and analytics counters.
-- Times are Unix milliseconds; enum columns hold the stable names of core/model.c.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    email         TEXT    NOT NULL UNIQUE,   -- lower-cased by the app; signs in with it
    name          TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL,          -- 'admin' or 'agent'
    password_hash TEXT    NOT NULL,          -- libsodium crypto_pwhash_str (Argon2id)
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX users_workspace ON users(workspace_id);

-- A dashboard sign-in. Only hashes of the two bearer values are stored: the session cookie
-- and the OAuth binding cookie that proves a TikTok callback comes back to the same browser.
CREATE TABLE sessions (
    id                   INTEGER PRIMARY KEY,
    workspace_id         INTEGER NOT NULL REFERENCES workspaces(id),
    user_id              INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_sha256         TEXT    NOT NULL UNIQUE,
    oauth_binding_sha256 TEXT    NOT NULL,
    csrf_token           TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Keys made before roles existed keep the full access they had.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

-- One pending TikTok login (connect, or reconnect of channel_id), single use.
CREATE TABLE oauth_states (
    state_sha256 TEXT    PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id   INTEGER NOT NULL,  -- the session it is bound to (may have ended since)
    channel_id   INTEGER REFERENCES channels(id),  -- NULL: connect a new account
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_states_expiry ON oauth_states(expires_at);

ALTER TABLE channels ADD COLUMN auto_reply_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN auto_reply_text TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN badge_path TEXT NOT NULL DEFAULT '';   -- '' when none
ALTER TABLE channels ADD COLUMN badge_mime TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN badge_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN badge_sha256 TEXT NOT NULL DEFAULT '';
-- Region and origin come from TikTok's profile unless an admin set them: then a reconnect
-- keeps the admin's value.
ALTER TABLE channels ADD COLUMN region_by_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN origin_by_admin INTEGER NOT NULL DEFAULT 0;
-- Why the channel needs a reconnect ('' when connected or unknown).
ALTER TABLE channels ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN connected_at INTEGER NOT NULL DEFAULT 0;

-- Analytics that no table holds otherwise: sends refused by rule, TikTok error codes, skipped
-- auto-responses. Everything else is counted from messages, conversations and the daily set.
CREATE TABLE analytics_counters (
    channel_id   INTEGER NOT NULL REFERENCES channels(id),
    day          INTEGER NOT NULL,  -- ttdm_policy_day()
    metric       TEXT    NOT NULL,  -- 'refused', 'tiktok_error', 'auto_reply_skipped'
    key          TEXT    NOT NULL,  -- error code
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    value        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, day, metric, key)
) WITHOUT ROWID;

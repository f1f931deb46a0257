-- 0001_initial.sql -- the first schema of ttdm: tenants, channels, conversations, messages,
-- the daily conversation set (R4) and the outbox. Times are Unix milliseconds. Enum columns
-- hold the stable names of core/model.c ("customer", "queued", ...), never their numbers.

CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    name        TEXT    NOT NULL,
    key_sha256  TEXT    NOT NULL UNIQUE,  -- hex SHA-256 of the key; the key is never stored
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE channels (
    id                 INTEGER PRIMARY KEY,
    workspace_id       INTEGER NOT NULL REFERENCES workspaces(id),
    business_id        TEXT    NOT NULL,  -- TikTok open_id of the business account
    username           TEXT    NOT NULL DEFAULT '',
    display_name       TEXT    NOT NULL DEFAULT '',
    avatar_url         TEXT    NOT NULL DEFAULT '',
    region             TEXT    NOT NULL DEFAULT '',
    origin             TEXT    NOT NULL DEFAULT 'unknown',
    status             TEXT    NOT NULL DEFAULT 'connected',
    access_token       TEXT    NOT NULL DEFAULT '',  -- as given by the app layer (encrypted)
    refresh_token      TEXT    NOT NULL DEFAULT '',
    token_expires_at   INTEGER NOT NULL DEFAULT 0,
    refresh_expires_at INTEGER NOT NULL DEFAULT 0,
    daily_limit        INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (workspace_id, business_id)
);
-- Webhooks name the business account only.
CREATE INDEX channels_business ON channels(business_id);

CREATE TABLE customers (
    id             INTEGER PRIMARY KEY,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id     INTEGER NOT NULL REFERENCES channels(id),
    tiktok_user_id TEXT    NOT NULL,
    username       TEXT    NOT NULL DEFAULT '',
    region         TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (channel_id, tiktok_user_id)
);

-- The rule state below is derived from the conversation's messages (see sqlite.c): it is
-- kept here so that reading a budget costs one row, and recomputed when messages move.
CREATE TABLE conversations (
    id                     INTEGER PRIMARY KEY,
    workspace_id           INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id             INTEGER NOT NULL REFERENCES channels(id),
    customer_id            INTEGER REFERENCES customers(id),  -- NULL until a message names them
    tiktok_conversation_id TEXT    NOT NULL,
    latest_customer_msg_at INTEGER NOT NULL DEFAULT 0,  -- max timestamp of customer messages
    replies_used           INTEGER NOT NULL DEFAULT 0,  -- counted business msgs after it
    last_business_msg_at   INTEGER NOT NULL DEFAULT 0,  -- max timestamp of business messages
    last_activity_at       INTEGER NOT NULL DEFAULT 0,  -- timestamp of the newest message
    last_preview           TEXT    NOT NULL DEFAULT '',
    unread_count           INTEGER NOT NULL DEFAULT 0,  -- customer msgs after the last business one
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    UNIQUE (channel_id, tiktok_conversation_id)
);
CREATE INDEX conversations_channel_activity
    ON conversations(workspace_id, channel_id, last_activity_at DESC, id DESC);
CREATE INDEX conversations_activity ON conversations(workspace_id, last_activity_at, id);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id        INTEGER NOT NULL REFERENCES channels(id),
    conversation_id   INTEGER NOT NULL REFERENCES conversations(id),
    direction         TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    text              TEXT,
    media_path        TEXT    NOT NULL DEFAULT '',
    media_mime        TEXT    NOT NULL DEFAULT '',
    media_size        INTEGER NOT NULL DEFAULT 0,
    share_url         TEXT    NOT NULL DEFAULT '',
    raw_type          TEXT    NOT NULL DEFAULT '',
    tiktok_message_id TEXT,                         -- NULL until TikTok gave one
    timestamp_ms      INTEGER NOT NULL,             -- TikTok's; reservation time until known
    counts            INTEGER NOT NULL DEFAULT 0,   -- business message counted by R3/R4
    from_webhook      INTEGER NOT NULL DEFAULT 0,   -- row created by a webhook, not by a send
    echo_seen         INTEGER NOT NULL DEFAULT 0,   -- TikTok's echo of it was processed
    idempotency_key   TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT    NOT NULL DEFAULT '',
    error_text        TEXT    NOT NULL DEFAULT '',
    tiktok_error_code INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- Exactly once per TikTok message, however often the webhook is delivered.
CREATE UNIQUE INDEX messages_tiktok_id ON messages(channel_id, tiktok_message_id)
    WHERE tiktok_message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_idempotency ON messages(conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_conversation_time ON messages(conversation_id, direction, timestamp_ms);

-- R4: the conversations a business account has sent to, per calendar day.
CREATE TABLE daily_conversations (
    channel_id      INTEGER NOT NULL REFERENCES channels(id),
    day             INTEGER NOT NULL,  -- ttdm_policy_day()
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    PRIMARY KEY (channel_id, day, conversation_id)
) WITHOUT ROWID;

CREATE TABLE outbox (
    message_id      INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,           -- NULL when no worker holds it
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox(next_attempt_at);

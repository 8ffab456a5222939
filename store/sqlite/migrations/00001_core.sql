-- +goose Up
-- Times are INTEGER microseconds since the Unix epoch (UTC): compact, and
-- compared and sorted as numbers.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash       BLOB NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    admin      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX tokens_tenant ON tokens (tenant_id, id);

CREATE TABLE bots (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    persona    TEXT NOT NULL,
    language   TEXT NOT NULL,
    webhook    TEXT NOT NULL,
    model      TEXT NOT NULL, -- JSON ModelSettings
    reply      TEXT NOT NULL DEFAULT '{}', -- JSON ReplySettings
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    platform   TEXT NOT NULL,
    language   TEXT NOT NULL,
    kv         TEXT NOT NULL, -- JSON object
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    bot_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    external_id     TEXT NOT NULL DEFAULT '',
    webhook         TEXT NOT NULL,
    platform        TEXT NOT NULL,
    language        TEXT NOT NULL,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_user_seq   INTEGER NOT NULL DEFAULT 0, -- newest user message
    answered_seq    INTEGER NOT NULL DEFAULT 0, -- newest user message a reply (or failure) covers
    reply_queued    INTEGER NOT NULL DEFAULT 0, -- a reply job is queued and has not claimed the turn yet
    summary         TEXT NOT NULL DEFAULT '',   -- rolling summary of the history up to summary_seq
    summary_seq     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_message_at INTEGER,
    UNIQUE (tenant_id, bot_id, user_id, external_id),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX conversations_tenant ON conversations (tenant_id, id);
CREATE INDEX conversations_user ON conversations (tenant_id, user_id);
-- A V1 conversation_id names one conversation per tenant and bot.
CREATE UNIQUE INDEX conversations_external ON conversations (tenant_id, bot_id, external_id) WHERE external_id <> '';

-- pk is the rowid the full-text index refers to. AUTOINCREMENT because the
-- indexer's watermark needs rowids that are never reused after a delete.
CREATE TABLE messages (
    pk              INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    tenant_id       TEXT NOT NULL,
    from_bot        INTEGER NOT NULL,
    text            TEXT NOT NULL,
    bubbles         TEXT NOT NULL, -- JSON array of strings
    media           TEXT NOT NULL, -- JSON array of Media
    metadata        TEXT,
    status          TEXT NOT NULL DEFAULT '', -- reply_failed on a user message nobody could answer
    idempotency_key TEXT,
    request_hash    TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
) STRICT;
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Contentless: the text lives in messages; deletes go by rowid. conv holds
-- the conversation id as one token, so that retrieval within a conversation
-- intersects with a short doclist instead of filtering every match.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, conv, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2'
);

-- The indexer's durable watermark: messages with rowid <= last_rowid are in
-- messages_fts. It lets the index catch up after a crash.
CREATE TABLE search_index_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_rowid INTEGER NOT NULL
) STRICT;
INSERT INTO search_index_state (id, last_rowid) VALUES (1, 0);

-- What the model was sent for each bot reply, for operators debugging a bot.
CREATE TABLE reply_contexts (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    context         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) STRICT, WITHOUT ROWID;

-- Everything that happened to a conversation, in order: live streams resume
-- from an event id, and webhook deliveries follow events.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX events_conversation ON events (conversation_id, id);

-- Webhook signing secrets (Standard Webhooks, whsec_...). Every secret not
-- yet expired signs, so a rotation overlaps old and new.
CREATE TABLE webhook_secrets (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER -- NULL: current
) STRICT;
CREATE INDEX webhook_secrets_tenant ON webhook_secrets (tenant_id, created_at);

-- One delivery per event and endpoint; its id is the webhook-id every
-- attempt carries, so receivers can de-duplicate.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    event_id        INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL, -- pending, delivered, failed, disabled
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries (conversation_id, id);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status_code INTEGER NOT NULL, -- 0: no HTTP answer
    latency_us  INTEGER NOT NULL,
    error       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
) STRICT, WITHOUT ROWID;

-- Endpoints that answered 410 Gone: nothing more is sent there.
CREATE TABLE webhook_disabled (
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    disabled_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, url)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE webhook_disabled;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_secrets;
DROP TABLE events;
DROP TABLE reply_contexts;
DROP TABLE search_index_state;
DROP TABLE messages_fts;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE users;
DROP TABLE bots;
DROP TABLE tokens;
DROP TABLE tenants;

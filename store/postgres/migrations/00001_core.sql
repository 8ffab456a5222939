-- +goose Up
CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE tokens (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash       bytea NOT NULL UNIQUE,
    name       text NOT NULL,
    admin      boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX tokens_tenant ON tokens (tenant_id, id);

CREATE TABLE bots (
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         text NOT NULL,
    name       text NOT NULL,
    persona    text NOT NULL,
    language   text NOT NULL,
    webhook    text NOT NULL,
    model      jsonb NOT NULL,
    reply      jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE users (
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         text NOT NULL,
    platform   text NOT NULL,
    language   text NOT NULL,
    kv         jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE conversations (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    bot_id          text NOT NULL,
    user_id         text NOT NULL,
    external_id     text NOT NULL DEFAULT '',
    webhook         text NOT NULL,
    platform        text NOT NULL,
    language        text NOT NULL,
    last_seq        bigint NOT NULL DEFAULT 0,
    last_user_seq   bigint NOT NULL DEFAULT 0, -- newest user message
    answered_seq    bigint NOT NULL DEFAULT 0, -- newest user message a reply (or failure) covers
    reply_queued    boolean NOT NULL DEFAULT false, -- a reply job is queued and has not claimed the turn yet
    summary         text NOT NULL DEFAULT '',  -- rolling summary of the history up to summary_seq
    summary_seq     bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_message_at timestamptz,
    UNIQUE (tenant_id, bot_id, user_id, external_id),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, id);
CREATE INDEX conversations_user ON conversations (tenant_id, user_id);
-- A V1 conversation_id names one conversation per tenant and bot.
CREATE UNIQUE INDEX conversations_external ON conversations (tenant_id, bot_id, external_id) WHERE external_id <> '';

-- The tsvector is generated in the row, so search is consistent with the
-- data at commit (PostgreSQL writers run concurrently; no indexer needed).
CREATE TABLE messages (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    id              text NOT NULL,
    tenant_id       text NOT NULL,
    from_bot        boolean NOT NULL,
    text            text NOT NULL,
    bubbles         jsonb NOT NULL,
    media           jsonb NOT NULL,
    metadata        json, -- kept verbatim, as the client sent it
    status          text NOT NULL DEFAULT '',
    idempotency_key text,
    request_hash    text,
    created_at      timestamptz NOT NULL,
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_tsv ON messages USING gin (tsv);

CREATE TABLE reply_contexts (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    context         jsonb NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX events_conversation ON events (conversation_id, id);

CREATE TABLE webhook_secrets (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX webhook_secrets_tenant ON webhook_secrets (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL,
    event_id        bigint NOT NULL,
    event_type      text NOT NULL,
    url             text NOT NULL,
    payload         text NOT NULL, -- the exact bytes signed and sent
    status          text NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries (conversation_id, id);

CREATE TABLE webhook_attempts (
    delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     int NOT NULL,
    status_code int NOT NULL,
    latency_us  bigint NOT NULL,
    error       text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE webhook_disabled (
    tenant_id   text NOT NULL,
    url         text NOT NULL,
    disabled_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, url)
);

-- +goose Down
DROP TABLE webhook_disabled;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_secrets;
DROP TABLE events;
DROP TABLE reply_contexts;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE users;
DROP TABLE bots;
DROP TABLE tokens;
DROP TABLE tenants;

-- +goose Up
-- Long-term memories: what a bot knows about one of its users, one row per
-- thing known (key), its replaced texts in memory_versions.
CREATE TABLE memories (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    bot_id          text NOT NULL,
    user_id         text NOT NULL,
    kind            text NOT NULL,
    key             text NOT NULL,
    text            text NOT NULL,
    confidence      double precision NOT NULL,
    confirmations   integer NOT NULL,
    version         integer NOT NULL,
    conversation_id text NOT NULL DEFAULT '',
    source_seqs     bigint[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    confirmed_at    timestamptz NOT NULL,
    UNIQUE (tenant_id, bot_id, user_id, key),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX memories_by_user ON memories (tenant_id, user_id, bot_id, id);

CREATE TABLE memory_versions (
    memory_id       text NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    version         integer NOT NULL,
    kind            text NOT NULL,
    text            text NOT NULL,
    conversation_id text NOT NULL,
    source_seqs     bigint[] NOT NULL,
    reason          text NOT NULL,
    replaced_at     timestamptz NOT NULL,
    PRIMARY KEY (memory_id, version)
);

-- How far a conversation's messages were read for memories, and whether a
-- memory job is queued that has not claimed them yet.
ALTER TABLE conversations ADD COLUMN memories_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN memory_queued boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE conversations DROP COLUMN memory_queued;
ALTER TABLE conversations DROP COLUMN memories_seq;
DROP TABLE memory_versions;
DROP TABLE memories;

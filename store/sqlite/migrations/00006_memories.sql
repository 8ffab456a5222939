-- +goose Up
-- Long-term memories: what a bot knows about one of its users, one row per
-- thing known (key), its replaced texts in memory_versions.
CREATE TABLE memories (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    bot_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    key             TEXT NOT NULL,
    text            TEXT NOT NULL,
    confidence      REAL NOT NULL,
    confirmations   INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    source_seqs     TEXT NOT NULL DEFAULT '[]', -- JSON array of message seqs of conversation_id
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    confirmed_at    INTEGER NOT NULL,
    UNIQUE (tenant_id, bot_id, user_id, key),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX memories_by_user ON memories (tenant_id, user_id, bot_id, id);

CREATE TABLE memory_versions (
    memory_id       TEXT NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    text            TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    source_seqs     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    replaced_at     INTEGER NOT NULL,
    PRIMARY KEY (memory_id, version)
) STRICT, WITHOUT ROWID;

-- How far a conversation's messages were read for memories, and whether a
-- memory job is queued that has not claimed them yet.
ALTER TABLE conversations ADD COLUMN memories_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN memory_queued INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE conversations DROP COLUMN memory_queued;
ALTER TABLE conversations DROP COLUMN memories_seq;
DROP TABLE memory_versions;
DROP TABLE memories;

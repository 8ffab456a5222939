-- +goose NO TRANSACTION
-- +goose Up
-- Messages clustered by conversation: the table is keyed by (conversation,
-- seq), so that a page of a conversation's history is a few neighbouring
-- leaf pages instead of a page read per message (appends of many
-- conversations interleave in insertion order). pk stays the full-text
-- index's rowid and what reply contexts refer to, unique and in insertion
-- order: an insert takes the one after the highest stored or indexed
-- (nextPKSQL), so that the indexer's watermark never passes a new one.
-- A message whose bubbles are one bubble that is its text (most are)
-- stores them as NULL instead of the text a second time.
--
-- SQLite's way to change a table's layout: with foreign keys off (which
-- only works outside a transaction, so this migration opens its own) and
-- the legacy rename, so that the tables referring to messages
-- (reply_contexts, message_media) keep naming messages, and so the new
-- table, and dropping the old one cascades to nothing. Run again after its commit, if the process died
-- before goose recorded it, it copies the new layout into itself.
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN IMMEDIATE;
ALTER TABLE messages RENAME TO messages_by_rowid;
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    pk              INTEGER NOT NULL,
    id              TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    from_bot        INTEGER NOT NULL,
    text            TEXT NOT NULL,
    bubbles         TEXT,          -- JSON array of strings; NULL: one bubble, the text
    media           TEXT NOT NULL, -- JSON array of Media
    metadata        TEXT,
    status          TEXT NOT NULL DEFAULT '', -- reply_failed on a user message nobody could answer
    idempotency_key TEXT,
    request_hash    TEXT,
    created_at      INTEGER NOT NULL,
    digest          BLOB,
    PRIMARY KEY (conversation_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO messages (conversation_id, seq, pk, id, tenant_id, from_bot, text, bubbles, media, metadata,
                      status, idempotency_key, request_hash, created_at, digest)
    SELECT conversation_id, seq, pk, id, tenant_id, from_bot, text,
           CASE WHEN bubbles = json_array(text) THEN NULL ELSE bubbles END, media, metadata,
           status, idempotency_key, request_hash, created_at, digest
    FROM messages_by_rowid ORDER BY conversation_id, seq;
DROP TABLE messages_by_rowid;
CREATE UNIQUE INDEX messages_pk ON messages (pk);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN IMMEDIATE;
ALTER TABLE messages RENAME TO messages_by_conversation;
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
    digest          BLOB,
    UNIQUE (conversation_id, seq)
) STRICT;
INSERT INTO messages (pk, id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata,
                      status, idempotency_key, request_hash, created_at, digest)
    SELECT pk, id, conversation_id, seq, tenant_id, from_bot, text, coalesce(bubbles, json_array(text)), media, metadata,
           status, idempotency_key, request_hash, created_at, digest
    FROM messages_by_conversation ORDER BY pk;
-- AUTOINCREMENT goes on past the indexer's watermark.
INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT last_rowid FROM search_index_state)) WHERE name = 'messages';
DROP TABLE messages_by_conversation;
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;

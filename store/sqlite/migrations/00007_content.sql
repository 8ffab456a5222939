-- +goose Up
-- Each bot's content library. The bytes are in the blob store, once per
-- tenant and SHA-256; a bot has one item per distinct bytes.
CREATE TABLE content_items (
    pk            INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    bot_id        TEXT NOT NULL,
    scope         TEXT NOT NULL, -- the tenant and bot as one search token
    media_type    TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    tags          TEXT NOT NULL, -- JSON array
    caption       TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    source_url    TEXT NOT NULL,
    has_thumbnail INTEGER NOT NULL,
    search_text   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (tenant_id, bot_id, sha256),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX content_by_bot ON content_items (tenant_id, bot_id, id);
CREATE INDEX content_by_sha ON content_items (tenant_id, sha256);

-- Kept in step by triggers, in the writing transaction (a library is
-- written rarely, unlike messages), cascades from a deleted bot included.
CREATE VIRTUAL TABLE content_fts USING fts5 (
    search_text, scope, content = 'content_items', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- +goose StatementBegin
CREATE TRIGGER content_fts_insert AFTER INSERT ON content_items BEGIN
    INSERT INTO content_fts (rowid, search_text, scope) VALUES (new.pk, new.search_text, new.scope);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER content_fts_delete AFTER DELETE ON content_items BEGIN
    INSERT INTO content_fts (content_fts, rowid, search_text, scope) VALUES ('delete', old.pk, old.search_text, old.scope);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER content_fts_update AFTER UPDATE OF search_text ON content_items BEGIN
    INSERT INTO content_fts (content_fts, rowid, search_text, scope) VALUES ('delete', old.pk, old.search_text, old.scope);
    INSERT INTO content_fts (rowid, search_text, scope) VALUES (new.pk, new.search_text, new.scope);
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE content_fts;
DROP TABLE content_items;

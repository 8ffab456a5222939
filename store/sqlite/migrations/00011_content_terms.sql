-- +goose Up
-- The content library's own term index, in place of FTS5: each item under
-- its bot's key (store.LibraryKey) and each of its terms
-- (parley.ContentItem.SearchTerms, computed by the server), so that a
-- search's "newest items of this bot with this term" reads one range of the
-- primary key, however large the library and however many segments FTS5
-- would have left unmerged. The item keeps the list it was indexed under:
-- the triggers remove exactly those entries on an edit or a deletion
-- (cascades from a deleted bot included). Migration 12 indexes the items
-- stored before this one. search_text and scope stay, for the way down.
DROP TRIGGER content_fts_insert;
DROP TRIGGER content_fts_delete;
DROP TRIGGER content_fts_update;
DROP TABLE content_fts;
ALTER TABLE content_items ADD COLUMN library INTEGER NOT NULL DEFAULT 0;
ALTER TABLE content_items ADD COLUMN terms TEXT NOT NULL DEFAULT '[]'; -- JSON array
CREATE TABLE content_terms (
    library INTEGER NOT NULL,
    term    TEXT NOT NULL,
    item    INTEGER NOT NULL, -- content_items.pk
    PRIMARY KEY (library, term, item)
) STRICT, WITHOUT ROWID;
-- +goose StatementBegin
CREATE TRIGGER content_terms_insert AFTER INSERT ON content_items BEGIN
    INSERT OR IGNORE INTO content_terms (library, term, item) SELECT new.library, value, new.pk FROM json_each(new.terms);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER content_terms_delete AFTER DELETE ON content_items BEGIN
    DELETE FROM content_terms WHERE library = old.library AND term IN (SELECT value FROM json_each(old.terms)) AND item = old.pk;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER content_terms_update AFTER UPDATE OF library, terms ON content_items BEGIN
    DELETE FROM content_terms WHERE library = old.library AND term IN (SELECT value FROM json_each(old.terms)) AND item = old.pk;
    INSERT OR IGNORE INTO content_terms (library, term, item) SELECT new.library, value, new.pk FROM json_each(new.terms);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER content_terms_insert;
DROP TRIGGER content_terms_delete;
DROP TRIGGER content_terms_update;
DROP TABLE content_terms;
ALTER TABLE content_items DROP COLUMN terms;
ALTER TABLE content_items DROP COLUMN library;
CREATE VIRTUAL TABLE content_fts USING fts5 (
    search_text, scope, content = 'content_items', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO content_fts (content_fts) VALUES ('rebuild');
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

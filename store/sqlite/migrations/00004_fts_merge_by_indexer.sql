-- +goose Up
-- The indexer merges the full-text index's segments itself, a bounded
-- amount with each small batch (index.go): FTS5's automatic merging, on top,
-- now and then merged a whole level inside one batch's transaction, holding
-- the single writer, and every append and reply behind it, for tens of
-- milliseconds. FTS5 keeps this setting in messages_fts_config.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);

-- +goose Down
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 4);

-- +goose Up
-- A conversation's row is updated at every message and reply (its last
-- seq, its reply and memory flags). Half of each page left free keeps the
-- updates HOT (no new entry in the table's five indexes) and has each page
-- pruned of the old versions long before it fills, so that a read by key
-- steps over few of them.
ALTER TABLE conversations SET (fillfactor = 50);

-- +goose Down
ALTER TABLE conversations RESET (fillfactor);

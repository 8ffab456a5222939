-- +goose Up
-- A conversation's lease row is kept once made: a lease is taken and given
-- back by updating it (given back: expired), where inserting and deleting
-- a row per reply left the key's index with a dead entry per reply for the
-- next take to step over. Room on each page keeps the updates HOT (no new
-- index entry).
ALTER TABLE reply_leases SET (fillfactor = 50);

-- +goose Down
ALTER TABLE reply_leases RESET (fillfactor);

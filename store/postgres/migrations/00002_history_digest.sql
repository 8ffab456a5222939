-- +goose Up
-- The digest of the history up to each message (parley.ChainDigest): V1
-- calls compare the client's whole history with the stored one by it.
-- 32 zero bytes start a chain (parley.ChainStart); NULL is unknown
-- (conversations that had messages before digests were kept: V1 calls
-- read their history).
ALTER TABLE conversations ADD COLUMN digest bytea DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
UPDATE conversations SET digest = NULL WHERE last_seq > 0;
ALTER TABLE messages ADD COLUMN digest bytea;

-- +goose Down
ALTER TABLE messages DROP COLUMN digest;
ALTER TABLE conversations DROP COLUMN digest;

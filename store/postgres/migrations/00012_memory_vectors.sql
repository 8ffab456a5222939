-- +goose Up
-- Each memory's embedding (parley.Vector: little-endian float32s, without
-- pgvector, which is not always there) and the model it is of; empty for a
-- memory stored without one.
ALTER TABLE memories ADD COLUMN vector_model text NOT NULL DEFAULT '',
    ADD COLUMN vector bytea NOT NULL DEFAULT '\x';

-- +goose Down
ALTER TABLE memories DROP COLUMN vector, DROP COLUMN vector_model;

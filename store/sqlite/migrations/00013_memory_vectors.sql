-- +goose Up
-- Each memory's embedding (parley.Vector: little-endian float32s) and the
-- model it is of; empty for a memory stored without one.
ALTER TABLE memories ADD COLUMN vector_model TEXT NOT NULL DEFAULT '';
ALTER TABLE memories ADD COLUMN vector BLOB NOT NULL DEFAULT x'';

-- +goose Down
ALTER TABLE memories DROP COLUMN vector;
ALTER TABLE memories DROP COLUMN vector_model;

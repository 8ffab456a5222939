-- +goose Up
-- A bot's own model API key, sealed by the server's secret key (package
-- seal): never stored in the clear, never returned by the API.
ALTER TABLE bots ADD COLUMN model_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE bots DROP COLUMN model_key;

-- +goose Up
-- Bots' retention: conversations idle longer than days are deleted.
CREATE TABLE bot_retention (
    tenant_id TEXT NOT NULL,
    bot_id    TEXT NOT NULL,
    days      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, bot_id),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE bot_retention;

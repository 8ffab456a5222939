-- +goose Up
-- Bots' retention: conversations idle longer than days are deleted.
CREATE TABLE bot_retention (
    tenant_id text NOT NULL,
    bot_id    text NOT NULL,
    days      integer NOT NULL,
    PRIMARY KEY (tenant_id, bot_id),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE bot_retention;

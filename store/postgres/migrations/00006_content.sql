-- +goose Up
-- Each bot's content library. The bytes are in the blob store, once per
-- tenant and SHA-256; a bot has one item per distinct bytes.
CREATE TABLE content_items (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    bot_id        text NOT NULL,
    media_type    text NOT NULL,
    sha256        text NOT NULL,
    size          bigint NOT NULL,
    width         integer NOT NULL,
    height        integer NOT NULL,
    title         text NOT NULL,
    description   text NOT NULL,
    tags          text[] NOT NULL,
    caption       text NOT NULL,
    file_name     text NOT NULL,
    source_url    text NOT NULL,
    has_thumbnail boolean NOT NULL,
    search_text   text NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (tenant_id, bot_id, sha256),
    FOREIGN KEY (tenant_id, bot_id) REFERENCES bots (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX content_by_bot ON content_items (tenant_id, bot_id, id);
CREATE INDEX content_by_sha ON content_items (tenant_id, sha256);
CREATE INDEX content_tsv ON content_items USING gin (tsv);

-- +goose Down
DROP TABLE content_items;

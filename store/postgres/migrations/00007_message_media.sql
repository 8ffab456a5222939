-- +goose Up
-- The bytes of media users sent, by message: which blobs a conversation's
-- messages hold (a blob goes when neither these nor content_items name it).
CREATE TABLE message_media (
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL,
    seq             bigint NOT NULL,
    idx             integer NOT NULL,
    sha256          text NOT NULL,
    PRIMARY KEY (conversation_id, seq, idx),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq) ON DELETE CASCADE
);
CREATE INDEX message_media_by_sha ON message_media (tenant_id, sha256);

-- +goose Down
DROP TABLE message_media;

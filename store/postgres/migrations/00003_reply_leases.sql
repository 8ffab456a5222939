-- +goose Up
-- Who is making a conversation's reply, until when. A lease rather than a
-- session advisory lock, which pinned a pooled connection for the whole
-- reply, model call included: with a hundred replies in flight per
-- replica, more connections than PostgreSQL allows by default. The holder
-- renews it while it works; a holder that dies lets it expire.
CREATE TABLE reply_leases (
    conversation_id text PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    holder          uuid NOT NULL,
    expires_at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE reply_leases;

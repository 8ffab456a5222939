-- +goose Up
-- Reply contexts keyed by their reply message's rowid: each is inserted at
-- the end of the table, as messages are, where keyed by (conversation,
-- seq) it went into whichever page held its conversation, and dirtied a
-- page of its own (two when it overflowed, which the key-ordered
-- WITHOUT ROWID layout does past about 1 KB). Deleting a conversation
-- deletes its messages, and they their contexts.
CREATE TABLE reply_contexts_by_message (
    message_pk INTEGER PRIMARY KEY REFERENCES messages (pk) ON DELETE CASCADE,
    context    TEXT NOT NULL
) STRICT;
INSERT INTO reply_contexts_by_message (message_pk, context)
    SELECT m.pk, rc.context FROM reply_contexts rc
    JOIN messages m ON m.conversation_id = rc.conversation_id AND m.seq = rc.seq
    ORDER BY m.pk;
DROP TABLE reply_contexts;
ALTER TABLE reply_contexts_by_message RENAME TO reply_contexts;

-- +goose Down
CREATE TABLE reply_contexts_by_key (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    context         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO reply_contexts_by_key (conversation_id, seq, context)
    SELECT m.conversation_id, m.seq, rc.context FROM reply_contexts rc JOIN messages m ON m.pk = rc.message_pk;
DROP TABLE reply_contexts;
ALTER TABLE reply_contexts_by_key RENAME TO reply_contexts;

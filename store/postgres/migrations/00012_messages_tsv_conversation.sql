-- +goose Up
-- A message's tsvector holds its conversation as one more lexeme
-- ('conv:' and the id, which the english parser never makes: it splits
-- words at ':'), so that a search within a conversation (recall, a reply's
-- retrieval) is one GIN lookup of the conversation's lexeme and the word's
-- together, which reads the matches in that conversation only. Before,
-- the plan either made a bitmap of the word's every match in the table (a
-- common word: most of a large tenant) or scanned the conversation newest
-- first, reading each row's tsvector.
ALTER TABLE messages DROP COLUMN tsv;
ALTER TABLE messages ADD COLUMN tsv tsvector GENERATED ALWAYS AS
    (to_tsvector('english', text) || array_to_tsvector(ARRAY['conv:' || conversation_id])) STORED;
CREATE INDEX messages_tsv ON messages USING gin (tsv);

-- +goose Down
ALTER TABLE messages DROP COLUMN tsv;
ALTER TABLE messages ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED;
CREATE INDEX messages_tsv ON messages USING gin (tsv);

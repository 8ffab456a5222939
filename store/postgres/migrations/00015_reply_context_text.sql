-- +goose Up
-- A reply's context is kept as the text the server encoded (context_text):
-- JSON of Parley's own making, read back whole and never queried inside,
-- which jsonb parsed at every reply for nothing (jsonb's input was ~8 % of
-- PostgreSQL's CPU in the replies benchmark, docs/performance.md).
-- Contexts stored before keep their jsonb, read where context_text is NULL:
-- no table rewrite. The check holds for the rows written from now on.
ALTER TABLE reply_contexts ALTER COLUMN context DROP NOT NULL;
ALTER TABLE reply_contexts ADD COLUMN context_text text;
ALTER TABLE reply_contexts ADD CONSTRAINT reply_contexts_one_context
    CHECK ((context IS NULL) <> (context_text IS NULL)) NOT VALID;

-- The values written at every reply that are long enough to be compressed
-- (once a row passes ~2 kB): the context, and the rolling summary
-- rewritten as the history outgrows the window. lz4 compresses them
-- several times faster than the default pglz, to about the same size.
-- Values stored before keep theirs. A server built without lz4 refuses
-- the method: the columns then keep pglz.
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE reply_contexts ALTER COLUMN context_text SET COMPRESSION lz4;
    ALTER TABLE conversations ALTER COLUMN summary SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: reply contexts and summaries stay compressed with pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE conversations ALTER COLUMN summary SET COMPRESSION default;
ALTER TABLE reply_contexts DROP CONSTRAINT reply_contexts_one_context;
UPDATE reply_contexts SET context = context_text::jsonb WHERE context IS NULL;
ALTER TABLE reply_contexts DROP COLUMN context_text;
ALTER TABLE reply_contexts ALTER COLUMN context SET NOT NULL;

-- +goose Up
-- The values written at every reply that are long enough to be compressed
-- (PostgreSQL compresses a value once its row passes ~2 kB): the context
-- sent to the model, and the rolling summary rewritten as the history
-- outgrows the window. lz4 compresses them several times faster than the
-- default pglz, to about the same size (docs/performance.md). Values
-- stored before keep their compression. A server built without lz4
-- refuses the method: the columns then keep pglz.
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE reply_contexts ALTER COLUMN context SET COMPRESSION lz4;
    ALTER TABLE conversations ALTER COLUMN summary SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: reply contexts and summaries stay compressed with pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE reply_contexts ALTER COLUMN context SET COMPRESSION default;
ALTER TABLE conversations ALTER COLUMN summary SET COMPRESSION default;

-- +goose Up
-- The content library's own term index, in place of the tsvector and its
-- GIN index: each item under its bot's key (store.LibraryKey) and each of
-- its terms (parley.ContentItem.SearchTerms, computed by the server), so
-- that a search's "newest items of this bot with this term" reads one range
-- of the primary key, whatever the library's size and the plan the
-- parameters get (a GIN index gives its matches unordered: a common term's
-- every match was read and sorted, or a rare term's whole library scanned
-- newest first). The item keeps the list it was indexed under: the trigger
-- removes exactly those entries on an edit or a deletion (cascades from a
-- deleted bot included). Migration 11 indexes the items stored before.
ALTER TABLE content_items DROP COLUMN tsv;
ALTER TABLE content_items ADD COLUMN pk bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX content_by_pk ON content_items (pk);
ALTER TABLE content_items ADD COLUMN library bigint NOT NULL DEFAULT 0;
ALTER TABLE content_items ADD COLUMN terms text[] NOT NULL DEFAULT '{}';
CREATE TABLE content_terms (
    library bigint NOT NULL,
    term    text NOT NULL,
    item    bigint NOT NULL, -- content_items.pk
    PRIMARY KEY (library, term, item)
);
-- +goose StatementBegin
CREATE FUNCTION content_terms_sync() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM content_terms WHERE library = OLD.library AND term = ANY (OLD.terms) AND item = OLD.pk;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO content_terms (library, term, item) SELECT NEW.library, t, NEW.pk FROM unnest(NEW.terms) t
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER content_terms_sync AFTER INSERT OR DELETE OR UPDATE OF library, terms ON content_items
    FOR EACH ROW EXECUTE FUNCTION content_terms_sync();

-- +goose Down
DROP TRIGGER content_terms_sync ON content_items;
DROP FUNCTION content_terms_sync();
DROP TABLE content_terms;
ALTER TABLE content_items DROP COLUMN terms;
ALTER TABLE content_items DROP COLUMN library;
ALTER TABLE content_items DROP COLUMN pk;
ALTER TABLE content_items ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED;
CREATE INDEX content_tsv ON content_items USING gin (tsv);

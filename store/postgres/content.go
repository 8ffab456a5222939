package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

const contentColumns = `id, bot_id, media_type, sha256, size, width, height, title, description, tags, caption,
	file_name, source_url, has_thumbnail, created_at, updated_at`

func scanContent(row pgx.Row) (*parley.ContentItem, error) {
	var it parley.ContentItem
	if err := row.Scan(&it.ID, &it.BotID, &it.MediaType, &it.SHA256, &it.Size, &it.Width, &it.Height, &it.Title,
		&it.Description, &it.Tags, &it.Caption, &it.FileName, &it.SourceURL, &it.HasThumbnail, &it.CreatedAt, &it.UpdatedAt); err != nil {
		return nil, err
	}
	if it.Tags == nil {
		it.Tags = []string{}
	}
	return &it, nil
}

// AddContent stores an item unless its bot has the same bytes. Two
// uploads of the same bytes at once: the unique key keeps one, and the
// other reads it.
func (db *DB) AddContent(ctx context.Context, tenantID string, it *parley.ContentItem) (*parley.ContentItem, bool, error) {
	tags := it.Tags
	if tags == nil {
		tags = []string{}
	}
	now := parley.Now()
	out, err := scanContent(db.pool.QueryRow(ctx, `INSERT INTO content_items (id, tenant_id, bot_id, media_type, sha256,
	     size, width, height, title, description, tags, caption, file_name, source_url, has_thumbnail, search_text,
	     library, terms, created_at, updated_at)
	   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)
	   ON CONFLICT (tenant_id, bot_id, sha256) DO NOTHING RETURNING `+contentColumns,
		parley.NewID(), tenantID, it.BotID, it.MediaType, it.SHA256, it.Size, it.Width, it.Height, it.Title,
		it.Description, tags, it.Caption, it.FileName, it.SourceURL, it.HasThumbnail, it.SearchText(),
		store.LibraryKey(tenantID, it.BotID), nonNil(it.SearchTerms()), now))
	switch {
	case err == nil:
		return out, true, nil
	case isForeignKeyViolation(err):
		return nil, false, parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", it.BotID)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, false, fmt.Errorf("postgres: insert content: %w", err)
	}
	out, err = scanContent(db.pool.QueryRow(ctx, `SELECT `+contentColumns+` FROM content_items
	   WHERE tenant_id = $1 AND bot_id = $2 AND sha256 = $3`, tenantID, it.BotID, it.SHA256))
	if err != nil {
		return nil, false, fmt.Errorf("postgres: read content: %w", err)
	}
	return out, false, nil
}

// GetContent returns one item of a tenant.
func (db *DB) GetContent(ctx context.Context, tenantID, id string) (*parley.ContentItem, error) {
	it, err := scanContent(db.pool.QueryRow(ctx, `SELECT `+contentColumns+` FROM content_items WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read content: %w", err)
	}
	return it, nil
}

// ListContent lists a bot's items: by id, or the matches of each term.
func (db *DB) ListContent(ctx context.Context, tenantID string, f parley.ContentFilter) ([]parley.ContentItem, error) {
	// $3 and $4: the media type, exact or as a top-level type.
	exact, prefix := "", ""
	switch {
	case strings.Contains(f.MediaType, "/"):
		exact = f.MediaType
	case f.MediaType != "":
		prefix = f.MediaType + "/"
	}
	typeCond := `($3 = '' OR media_type = $3) AND ($4 = '' OR starts_with(media_type, $4))`
	var query string
	args := []any{tenantID, f.BotID, exact, prefix}
	if len(f.Terms) == 0 {
		before := f.BeforeID
		if before == "" {
			before = "\U0010FFFF"
		}
		args = append(args, before, f.Limit)
		query = `SELECT ` + contentColumns + ` FROM content_items WHERE tenant_id = $1 AND bot_id = $2 AND ` + typeCond + `
		   AND id < $5 ORDER BY id DESC LIMIT $6`
	} else {
		// The newest PerTerm items of each term, through the term index
		// (its primary key, newest first), each checked for its tenant,
		// bot and type: one statement whatever the number of terms.
		terms := parley.IndexTerms(strings.Join(f.Terms, " "))
		if len(terms) == 0 {
			return nil, nil
		}
		args = append(args, store.LibraryKey(tenantID, f.BotID), terms, f.PerTerm)
		query = `SELECT ` + contentColumns + ` FROM content_items WHERE pk IN (
		   SELECT m.item FROM unnest($6::text[]) AS q (term), LATERAL (
		     SELECT t.item FROM content_terms t JOIN content_items c ON c.pk = t.item
		     WHERE t.library = $5 AND t.term = q.term AND c.tenant_id = $1 AND c.bot_id = $2 AND ` + typeCond + `
		     ORDER BY t.item DESC LIMIT $7) m)`
	}
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list content: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.ContentItem, error) {
		it, err := scanContent(row)
		if err != nil {
			return parley.ContentItem{}, err
		}
		return *it, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list content: %w", err)
	}
	return out, nil
}

// PatchContent changes an item's descriptive fields.
func (db *DB) PatchContent(ctx context.Context, tenantID, id string, p parley.ContentPatch) (*parley.ContentItem, error) {
	var out *parley.ContentItem
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		it, err := scanContent(tx.QueryRow(ctx, `SELECT `+contentColumns+` FROM content_items WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: read content: %w", err)
		}
		if err := p.Apply(it); err != nil {
			return err
		}
		out, err = scanContent(tx.QueryRow(ctx, `UPDATE content_items SET title = $1, description = $2, tags = $3,
		     caption = $4, search_text = $5, terms = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9 RETURNING `+contentColumns,
			it.Title, it.Description, it.Tags, it.Caption, it.SearchText(), nonNil(it.SearchTerms()), parley.Now(), tenantID, id))
		if err != nil {
			return fmt.Errorf("postgres: update content: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteContent deletes an item and says whether its bytes are still used.
func (db *DB) DeleteContent(ctx context.Context, tenantID, id string) (*parley.ContentItem, bool, error) {
	var out *parley.ContentItem
	shared := false
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanContent(tx.QueryRow(ctx, `DELETE FROM content_items WHERE tenant_id = $1 AND id = $2 RETURNING `+contentColumns, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete content: %w", err)
		}
		shared, err = contentReferenced(ctx, tx, tenantID, out.SHA256)
		return err
	})
	return out, shared, err
}

// ContentReferenced says whether an item of the tenant has the bytes.
func (db *DB) ContentReferenced(ctx context.Context, tenantID, sum string) (bool, error) {
	return contentReferenced(ctx, db.pool, tenantID, sum)
}

// Unreferenced returns the sums nothing of the tenant names.
func (db *DB) Unreferenced(ctx context.Context, tenantID string, sums []string) ([]string, error) {
	if len(sums) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT s FROM unnest($2::text[]) s
	   WHERE NOT EXISTS (SELECT 1 FROM content_items WHERE tenant_id = $1 AND sha256 = s)
	     AND NOT EXISTS (SELECT 1 FROM message_media WHERE tenant_id = $1 AND sha256 = s)`, tenantID, sums)
	if err != nil {
		return nil, fmt.Errorf("postgres: unreferenced: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: unreferenced: %w", err)
	}
	return out, nil
}

func contentReferenced(ctx context.Context, q rowQuerier, tenantID, sum string) (bool, error) {
	var found bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM content_items WHERE tenant_id = $1 AND sha256 = $2)
	   OR EXISTS (SELECT 1 FROM message_media WHERE tenant_id = $1 AND sha256 = $2)`, tenantID, sum).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("postgres: read content: %w", err)
	}
	return found, nil
}

// SetMessageMedia replaces a message's media and records its blobs.
func (db *DB) SetMessageMedia(ctx context.Context, tenantID, conversationID string, seq int64, media []parley.Media) error {
	return db.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE messages SET media = $1 WHERE conversation_id = $2 AND seq = $3 AND tenant_id = $4`,
			media, conversationID, seq, tenantID)
		if err != nil {
			return fmt.Errorf("postgres: update media: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return parley.Errorf(parley.ENOTFOUND, "message %d not found", seq)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM message_media WHERE conversation_id = $1 AND seq = $2`, conversationID, seq); err != nil {
			return fmt.Errorf("postgres: update media: %w", err)
		}
		for i, m := range media {
			if m.SHA256 == "" {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO message_media (tenant_id, conversation_id, seq, idx, sha256) VALUES ($1, $2, $3, $4, $5)`,
				tenantID, conversationID, seq, i, m.SHA256); err != nil {
				return fmt.Errorf("postgres: record media: %w", err)
			}
		}
		return nil
	})
}

// MediaOf returns the blobs of a user's or a bot's conversations' media.
func (db *DB) MediaOf(ctx context.Context, tenantID string, owner parley.MediaOwner) ([]string, error) {
	if owner.UserID == "" && owner.BotID == "" {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT mm.sha256 FROM message_media mm
	   JOIN conversations c ON c.id = mm.conversation_id
	   WHERE c.tenant_id = $1 AND ($2 = '' OR c.user_id = $2) AND ($3 = '' OR c.bot_id = $3)`, tenantID, owner.UserID, owner.BotID)
	if err != nil {
		return nil, fmt.Errorf("postgres: media of: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: media of: %w", err)
	}
	return out, nil
}

// indexContent is migration 11: the items stored before migration 10
// under their library's key and their terms (the trigger indexes them).
// The terms are the server's rule, which SQL cannot compute.
func indexContent(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT pk, tenant_id, bot_id, title, description, array_to_string(tags, ' '),
	     caption, file_name FROM content_items`)
	if err != nil {
		return fmt.Errorf("postgres: read content to index: %w", err)
	}
	type row struct {
		pk             int64
		tenantID, tags string
		it             parley.ContentItem
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pk, &r.tenantID, &r.it.BotID, &r.it.Title, &r.it.Description, &r.tags, &r.it.Caption, &r.it.FileName); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: read content to index: %w", err)
		}
		r.it.Tags = []string{r.tags} // joined as SearchText joins them
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read content to index: %w", err)
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, `UPDATE content_items SET library = $1, terms = $2 WHERE pk = $3`,
			store.LibraryKey(r.tenantID, r.it.BotID), nonNil(r.it.SearchTerms()), r.pk); err != nil {
			return fmt.Errorf("postgres: index content: %w", err)
		}
	}
	return nil
}

package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

const contentColumns = `id, bot_id, media_type, sha256, size, width, height, title, description, tags, caption,
	file_name, source_url, has_thumbnail, created_at, updated_at`

func scanContent(row interface{ Scan(...any) error }) (*parley.ContentItem, error) {
	var it parley.ContentItem
	var tags string
	var created, updated int64
	if err := row.Scan(&it.ID, &it.BotID, &it.MediaType, &it.SHA256, &it.Size, &it.Width, &it.Height, &it.Title,
		&it.Description, &tags, &it.Caption, &it.FileName, &it.SourceURL, &it.HasThumbnail, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &it.Tags); err != nil {
		return nil, fmt.Errorf("sqlite: decode tags: %w", err)
	}
	it.CreatedAt, it.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &it, nil
}

// contentScope is a tenant's bot as one search token, as the full-text
// index before migration 11 had it (kept for the way down).
func contentScope(tenantID, botID string) string {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + botID))
	return "s" + hex.EncodeToString(sum[:10])
}

// AddContent stores an item unless its bot has the same bytes.
func (db *DB) AddContent(ctx context.Context, tenantID string, it *parley.ContentItem) (*parley.ContentItem, bool, error) {
	tags, err := json.Marshal(it.Tags)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: encode tags: %w", err)
	}
	var out *parley.ContentItem
	created := false
	// A group commit: uploads that come together share one fsync.
	err = db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		created = false // a group run again starts over
		var err error
		out, err = scanContent(tx.QueryRowContext(ctx, `SELECT `+contentColumns+` FROM content_items
		   WHERE tenant_id = ? AND bot_id = ? AND sha256 = ?`, tenantID, it.BotID, it.SHA256))
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read content: %w", err)
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM bots WHERE tenant_id = ? AND id = ?`, tenantID, it.BotID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", it.BotID)
		} else if err != nil {
			return fmt.Errorf("sqlite: read bot: %w", err)
		}
		now := micros(parley.Now())
		terms, err := json.Marshal(it.SearchTerms())
		if err != nil {
			return fmt.Errorf("sqlite: encode terms: %w", err)
		}
		out, err = scanContent(tx.QueryRowContext(ctx, `INSERT INTO content_items (id, tenant_id, bot_id, scope, media_type,
		     sha256, size, width, height, title, description, tags, caption, file_name, source_url, has_thumbnail,
		     search_text, library, terms, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		   RETURNING `+contentColumns, parley.NewID(), tenantID, it.BotID, contentScope(tenantID, it.BotID), it.MediaType,
			it.SHA256, it.Size, it.Width, it.Height, it.Title, it.Description, string(tags), it.Caption, it.FileName,
			it.SourceURL, it.HasThumbnail, it.SearchText(), store.LibraryKey(tenantID, it.BotID), string(terms), now, now))
		if err != nil {
			return fmt.Errorf("sqlite: insert content: %w", err)
		}
		created = true
		return nil
	})
	return out, created, err
}

// GetContent returns one item of a tenant.
func (db *DB) GetContent(ctx context.Context, tenantID, id string) (*parley.ContentItem, error) {
	it, err := scanContent(db.read.QueryRowContext(ctx, `SELECT `+contentColumns+` FROM content_items WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read content: %w", err)
	}
	return it, nil
}

// mediaTypeSQL is the media type condition of a filter, on column c.
func mediaTypeSQL(want string) (string, []any) {
	switch {
	case want == "":
		return "1", nil
	case strings.Contains(want, "/"):
		return "c.media_type = ?", []any{want}
	default:
		return "c.media_type LIKE ? ESCAPE '\\'", []any{strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(want) + "/%"}
	}
}

// ListContent lists a bot's items: by id, or the matches of each term.
func (db *DB) ListContent(ctx context.Context, tenantID string, f parley.ContentFilter) ([]parley.ContentItem, error) {
	typeCond, typeArgs := mediaTypeSQL(f.MediaType)
	var query string
	var args []any
	if len(f.Terms) == 0 {
		before := f.BeforeID
		if before == "" {
			before = "\U0010FFFF"
		}
		query = `SELECT ` + prefixed("c.", contentColumns) + ` FROM content_items c
		   WHERE c.tenant_id = ? AND c.bot_id = ? AND c.id < ? AND ` + typeCond + ` ORDER BY c.id DESC LIMIT ?`
		args = append(append([]any{tenantID, f.BotID, before}, typeArgs...), f.Limit)
	} else {
		// The newest PerTerm items of each term, through the term index
		// (its primary key, newest first), each checked for its tenant,
		// bot and type.
		var parts []string
		for _, term := range parley.IndexTerms(strings.Join(f.Terms, " ")) {
			parts = append(parts, `SELECT * FROM (SELECT t.item FROM content_terms t CROSS JOIN content_items c ON c.pk = t.item
			   WHERE t.library = ? AND t.term = ? AND c.tenant_id = ? AND c.bot_id = ? AND `+typeCond+`
			   ORDER BY t.item DESC LIMIT ?)`)
			args = append(append(append(args, store.LibraryKey(tenantID, f.BotID), term, tenantID, f.BotID), typeArgs...), f.PerTerm)
		}
		if len(parts) == 0 {
			return nil, nil
		}
		query = `SELECT ` + contentColumns + ` FROM content_items WHERE pk IN (` + strings.Join(parts, "\n UNION ALL ") + `)`
	}
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list content: %w", err)
	}
	defer rows.Close()
	var out []parley.ContentItem
	for rows.Next() {
		it, err := scanContent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan content: %w", err)
		}
		out = append(out, *it)
	}
	return out, rows.Err()
}

// PatchContent changes an item's descriptive fields.
func (db *DB) PatchContent(ctx context.Context, tenantID, id string, p parley.ContentPatch) (*parley.ContentItem, error) {
	var out *parley.ContentItem
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		it, err := scanContent(tx.QueryRowContext(ctx, `SELECT `+contentColumns+` FROM content_items WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read content: %w", err)
		}
		if err := p.Apply(it); err != nil {
			return err
		}
		tags, err := json.Marshal(it.Tags)
		if err != nil {
			return fmt.Errorf("sqlite: encode tags: %w", err)
		}
		terms, err := json.Marshal(it.SearchTerms())
		if err != nil {
			return fmt.Errorf("sqlite: encode terms: %w", err)
		}
		out, err = scanContent(tx.QueryRowContext(ctx, `UPDATE content_items SET title = ?, description = ?, tags = ?,
		     caption = ?, search_text = ?, terms = ?, updated_at = ? WHERE tenant_id = ? AND id = ? RETURNING `+contentColumns,
			it.Title, it.Description, string(tags), it.Caption, it.SearchText(), string(terms), micros(parley.Now()), tenantID, id))
		if err != nil {
			return fmt.Errorf("sqlite: update content: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteContent deletes an item and says whether its bytes are still used.
func (db *DB) DeleteContent(ctx context.Context, tenantID, id string) (*parley.ContentItem, bool, error) {
	var out *parley.ContentItem
	shared := false
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var err error
		out, err = scanContent(tx.QueryRowContext(ctx, `DELETE FROM content_items WHERE tenant_id = ? AND id = ? RETURNING `+contentColumns, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "content %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete content: %w", err)
		}
		shared, err = contentReferenced(ctx, tx, tenantID, out.SHA256)
		return err
	})
	return out, shared, err
}

// ContentReferenced says whether an item of the tenant has the bytes.
func (db *DB) ContentReferenced(ctx context.Context, tenantID, sum string) (bool, error) {
	return contentReferenced(ctx, db.read, tenantID, sum)
}

// Unreferenced returns the sums nothing of the tenant names; the sums go
// as one JSON array.
func (db *DB) Unreferenced(ctx context.Context, tenantID string, sums []string) ([]string, error) {
	if len(sums) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(sums)
	if err != nil {
		return nil, fmt.Errorf("sqlite: unreferenced: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT s.value FROM json_each(?2) s
	   WHERE NOT EXISTS (SELECT 1 FROM content_items WHERE tenant_id = ?1 AND sha256 = s.value)
	     AND NOT EXISTS (SELECT 1 FROM message_media WHERE tenant_id = ?1 AND sha256 = s.value)`, tenantID, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: unreferenced: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, fmt.Errorf("sqlite: unreferenced: %w", err)
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}

func contentReferenced(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, tenantID, sum string) (bool, error) {
	var used bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM content_items WHERE tenant_id = ?1 AND sha256 = ?2)
	   OR EXISTS (SELECT 1 FROM message_media WHERE tenant_id = ?1 AND sha256 = ?2)`, tenantID, sum).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("sqlite: read content: %w", err)
	}
	return used, nil
}

// SetMessageMedia replaces a message's media and records its blobs.
func (db *DB) SetMessageMedia(ctx context.Context, tenantID, conversationID string, seq int64, media []parley.Media) error {
	encoded, err := json.Marshal(media)
	if err != nil {
		return fmt.Errorf("sqlite: encode media: %w", err)
	}
	return db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE messages SET media = ? WHERE conversation_id = ? AND seq = ? AND tenant_id = ?`,
			string(encoded), conversationID, seq, tenantID)
		if err != nil {
			return fmt.Errorf("sqlite: update media: %w", err)
		}
		if err := mustAffect(res, "message %d not found", seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM message_media WHERE conversation_id = ? AND seq = ?`, conversationID, seq); err != nil {
			return fmt.Errorf("sqlite: update media: %w", err)
		}
		for i, m := range media {
			if m.SHA256 == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO message_media (tenant_id, conversation_id, seq, idx, sha256) VALUES (?, ?, ?, ?, ?)`,
				tenantID, conversationID, seq, i, m.SHA256); err != nil {
				return fmt.Errorf("sqlite: record media: %w", err)
			}
		}
		return nil
	})
}

// MediaOf returns the blobs of a user's or a bot's conversations' media.
func (db *DB) MediaOf(ctx context.Context, tenantID string, owner parley.MediaOwner) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT mm.sha256 FROM message_media mm
	   JOIN conversations c ON c.id = mm.conversation_id
	   WHERE c.tenant_id = ? AND (? = '' OR c.user_id = ?) AND (? = '' OR c.bot_id = ?) AND (? != '' OR ? != '')`,
		tenantID, owner.UserID, owner.UserID, owner.BotID, owner.BotID, owner.UserID, owner.BotID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: media of: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, fmt.Errorf("sqlite: media of: %w", err)
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}

// indexContent is migration 12: the items stored before migration 11
// under their library's key and their terms (the update trigger indexes
// them). The terms are the server's rule, which SQL cannot compute.
func indexContent(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT pk, tenant_id, bot_id, title, description, tags, caption, file_name FROM content_items`)
	if err != nil {
		return fmt.Errorf("sqlite: read content to index: %w", err)
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
			return fmt.Errorf("sqlite: read content to index: %w", err)
		}
		if err := json.Unmarshal([]byte(r.tags), &r.it.Tags); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: decode tags: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read content to index: %w", err)
	}
	for _, r := range all {
		terms, err := json.Marshal(r.it.SearchTerms())
		if err != nil {
			return fmt.Errorf("sqlite: encode terms: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE content_items SET library = ?, terms = ? WHERE pk = ?`,
			store.LibraryKey(r.tenantID, r.it.BotID), string(terms), r.pk); err != nil {
			return fmt.Errorf("sqlite: index content: %w", err)
		}
	}
	return nil
}

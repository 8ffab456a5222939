package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-chat/parley"
)

const conversationColumns = `id, bot_id, user_id, external_id, webhook, platform, language, last_seq,
	created_at, updated_at, last_message_at, memories_seq`

func scanConversation(row interface{ Scan(...any) error }) (*parley.Conversation, error) {
	var c parley.Conversation
	var created, updated int64
	var last sql.NullInt64
	if err := row.Scan(&c.ID, &c.BotID, &c.UserID, &c.ExternalID, &c.Webhook, &c.Platform, &c.Language,
		&c.MessageCount, &created, &updated, &last, &c.MemoriesSeq); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt, c.LastMessageAt = fromMicros(created), fromMicros(updated), fromNullMicros(last)
	return &c, nil
}

// ownedBy checks that a conversation found by its V1 id is the user's.
func ownedBy(c *parley.Conversation, nc parley.NewConversation) error {
	if c.UserID != nc.UserID {
		return parley.FieldError(parley.ECONFLICT, "body.user_id", "conversation %q belongs to user %q", nc.ExternalID, c.UserID)
	}
	return nil
}

// GetOrCreateConversation returns the conversation of a bot and a user,
// creating it (and the user, when asked) if there is none. created tells
// which happened. Concurrent calls for one pair create exactly one.
func (db *DB) GetOrCreateConversation(ctx context.Context, tenantID string, nc parley.NewConversation) (*parley.Conversation, bool, error) {
	// A V1 conversation id names the conversation whatever the user; a V3
	// conversation is the one of its bot and user.
	const findSQL = `SELECT ` + conversationColumns + ` FROM conversations
	   WHERE tenant_id = ? AND bot_id = ? AND external_id = ? AND (external_id <> '' OR user_id = ?)`
	// Most calls find the conversation: look on a reader first, so that
	// they do not queue for the one writer behind the appends.
	if c, err := scanConversation(db.read.QueryRowContext(ctx, findSQL, tenantID, nc.BotID, nc.ExternalID, nc.UserID)); err == nil {
		if err := ownedBy(c, nc); err != nil {
			return nil, false, err
		}
		return c, false, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("sqlite: read conversation: %w", err)
	}
	var out *parley.Conversation
	var created bool
	err := db.withTx(ctx, func(tx *Tx) error {
		// Again, under the write lock: another call may have created it.
		c, err := scanConversation(tx.QueryRowContext(ctx, findSQL, tenantID, nc.BotID, nc.ExternalID, nc.UserID))
		if err == nil {
			out = c
			return ownedBy(c, nc)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read conversation: %w", err)
		}
		var botWebhook, botLanguage string
		err = tx.QueryRowContext(ctx, `SELECT webhook, language FROM bots WHERE tenant_id = ? AND id = ?`,
			tenantID, nc.BotID).Scan(&botWebhook, &botLanguage)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", nc.BotID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read bot: %w", err)
		}
		var userPlatform, userLanguage string
		err = tx.QueryRowContext(ctx, `SELECT platform, language FROM users WHERE tenant_id = ? AND id = ?`,
			tenantID, nc.UserID).Scan(&userPlatform, &userLanguage)
		now := micros(parley.Now())
		switch {
		case errors.Is(err, sql.ErrNoRows) && nc.CreateUser:
			userPlatform, userLanguage = nc.Platform, nc.Language
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO users (tenant_id, id, platform, language, kv, created_at, updated_at)
				 VALUES (?, ?, ?, ?, '{}', ?, ?)`,
				tenantID, nc.UserID, nc.Platform, nc.Language, now, now); err != nil {
				return fmt.Errorf("sqlite: create user: %w", err)
			}
		case errors.Is(err, sql.ErrNoRows):
			return parley.FieldError(parley.ENOTFOUND, "body.user_id",
				"user %q not found (set create_user_if_not_exists to create it)", nc.UserID)
		case err != nil:
			return fmt.Errorf("sqlite: read user: %w", err)
		}
		c = &parley.Conversation{ID: parley.NewID(), BotID: nc.BotID, UserID: nc.UserID, ExternalID: nc.ExternalID,
			Webhook: nc.Webhook, Platform: firstNonEmpty(nc.Platform, userPlatform),
			Language: firstNonEmpty(nc.Language, userLanguage, botLanguage)}
		out, err = scanConversation(tx.QueryRowContext(ctx,
			`INSERT INTO conversations (id, tenant_id, bot_id, user_id, external_id, webhook, platform, language,
			   created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+conversationColumns,
			c.ID, tenantID, c.BotID, c.UserID, c.ExternalID, c.Webhook, c.Platform, c.Language, now, now))
		if err != nil {
			return fmt.Errorf("sqlite: insert conversation: %w", err)
		}
		created = true
		return db.insertEvent(ctx, tx, tenantID, out.ID, parley.EventConversationCreated, out, out.CreatedAt)
	})
	if created {
		db.notify(out.ID)
	}
	return out, created, err
}

// UpdateConversation sets the webhook, platform or language of a
// conversation when the given value is not empty.
func (db *DB) UpdateConversation(ctx context.Context, tenantID, id, webhook, platform, language string) (*parley.Conversation, error) {
	var out *parley.Conversation
	err := db.withTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanConversation(tx.QueryRowContext(ctx,
			`UPDATE conversations SET webhook = coalesce(nullif(?, ''), webhook),
			   platform = coalesce(nullif(?, ''), platform), language = coalesce(nullif(?, ''), language),
			   updated_at = ?
			 WHERE tenant_id = ? AND id = ? RETURNING `+conversationColumns,
			webhook, platform, language, micros(parley.Now()), tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update conversation: %w", err)
		}
		return nil
	})
	return out, err
}

// GetConversation returns one conversation of a tenant.
func (db *DB) GetConversation(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	c, err := scanConversation(db.read.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get conversation: %w", err)
	}
	return c, nil
}

// ListConversations returns the conversations matching f, newest first.
func (db *DB) ListConversations(ctx context.Context, tenantID string, f parley.ConversationFilter) ([]parley.Conversation, error) {
	where := []string{"c.tenant_id = ?"}
	args := []any{tenantID}
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.BotID != "" {
		add("c.bot_id = ?", f.BotID)
	}
	if f.UserID != "" {
		add("c.user_id = ?", f.UserID)
	}
	if f.Platform != "" {
		add("c.platform = ?", f.Platform)
	}
	if f.Language != "" {
		add("c.language = ?", f.Language)
	}
	if !f.CreatedAfter.IsZero() {
		add("c.created_at > ?", micros(f.CreatedAfter))
	}
	if !f.UpdatedAfter.IsZero() {
		add("c.updated_at > ?", micros(f.UpdatedAfter))
	}
	if f.BeforeID != "" {
		add("c.id < ?", f.BeforeID)
	}
	h := db.read
	if q := ftsQuery(f.Query); q != "" {
		// FTS5 walks a term's matches newest first and stops at the limit:
		// a common word costs no more than a rare one. Each match's
		// conversation comes from the pk index alone and its tenant from
		// the conversation: reading the message's row for its tenant_id
		// would cost a seek into the table for each of thousands of matches.
		where = append(where, `c.id IN (SELECT m.conversation_id FROM messages_fts
			JOIN messages m ON m.pk = messages_fts.rowid JOIN conversations mc ON mc.id = m.conversation_id
			WHERE messages_fts MATCH ? AND mc.tenant_id = ? ORDER BY messages_fts.rowid DESC LIMIT `+ftsLimit(parley.MaxSearchMatches)+`)`)
		args = append(args, q, tenantID)
		h = db.search
	} else if strings.TrimSpace(f.Query) != "" {
		return nil, nil // only punctuation: nothing can match
	}
	args = append(args, f.Limit)
	rows, err := h.QueryContext(ctx,
		`SELECT `+prefixed("c.", conversationColumns)+` FROM conversations c
		 WHERE `+strings.Join(where, " AND ")+` ORDER BY c.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conversations: %w", err)
	}
	defer rows.Close()
	var out []parley.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan conversation: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// ftsQuery turns free text into an FTS5 query that matches documents with
// every word. Each word is quoted, so nothing in user input is FTS syntax;
// the last word also matches as a prefix (search as you type).
func ftsQuery(s string) string {
	words := parley.SearchTerms(s)
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	if len(words) > 0 {
		words[len(words)-1] += "*"
	}
	return strings.Join(words, " ")
}

// ftsQueryAny matches documents with any of the words, for relevance
// ranking (retrieval) rather than filtering.
func ftsQueryAny(s string) string {
	words := parley.SearchTerms(s)
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(words, " OR ")
}

func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

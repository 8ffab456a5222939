package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
)

const conversationColumns = `id, bot_id, user_id, external_id, webhook, platform, language, last_seq,
	created_at, updated_at, last_message_at, memories_seq`

func scanConversation(row pgx.Row) (*parley.Conversation, error) {
	var c parley.Conversation
	if err := row.Scan(&c.ID, &c.BotID, &c.UserID, &c.ExternalID, &c.Webhook, &c.Platform, &c.Language,
		&c.MessageCount, &c.CreatedAt, &c.UpdatedAt, &c.LastMessageAt, &c.MemoriesSeq); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.LastMessageAt != nil {
		t := c.LastMessageAt.UTC()
		c.LastMessageAt = &t
	}
	return &c, nil
}

// GetOrCreateConversation returns the conversation of a bot and a user,
// creating it (and the user, when asked) if there is none. created tells
// which happened. Concurrent calls for one pair create exactly one: the
// insert is ON CONFLICT DO NOTHING, and the loser reads the winner's row.
func (db *DB) GetOrCreateConversation(ctx context.Context, tenantID string, nc parley.NewConversation) (*parley.Conversation, bool, error) {
	// A V1 conversation id names the conversation whatever the user; a V3
	// conversation is the one of its bot and user.
	get := func(q rowQuerier) (*parley.Conversation, error) {
		c, err := scanConversation(q.QueryRow(ctx,
			`SELECT `+conversationColumns+` FROM conversations
			 WHERE tenant_id = $1 AND bot_id = $2 AND external_id = $4 AND (external_id <> '' OR user_id = $3)`,
			tenantID, nc.BotID, nc.UserID, nc.ExternalID))
		if err == nil && c.UserID != nc.UserID {
			return nil, parley.FieldError(parley.ECONFLICT, "body.user_id",
				"conversation %q belongs to user %q", nc.ExternalID, c.UserID)
		}
		return c, err
	}
	// Most calls find it: one round trip, no transaction. The transaction,
	// for a conversation to make, looks again.
	c, err := get(db.pool)
	if err == nil || parley.ErrorCode(err) == parley.ECONFLICT {
		return c, false, err
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("postgres: read conversation: %w", err)
	}
	var out *parley.Conversation
	var created bool
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		c, err := get(tx)
		if err == nil {
			out = c
			return nil
		}
		if parley.ErrorCode(err) == parley.ECONFLICT {
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: read conversation: %w", err)
		}
		var botLanguage string
		err = tx.QueryRow(ctx, `SELECT language FROM bots WHERE tenant_id = $1 AND id = $2`, tenantID, nc.BotID).
			Scan(&botLanguage)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", nc.BotID)
		}
		if err != nil {
			return fmt.Errorf("postgres: read bot: %w", err)
		}
		now := parley.Now()
		if nc.CreateUser {
			if _, err := tx.Exec(ctx,
				`INSERT INTO users (tenant_id, id, platform, language, kv, created_at, updated_at)
				 VALUES ($1, $2, $3, $4, '{}', $5, $5) ON CONFLICT (tenant_id, id) DO NOTHING`,
				tenantID, nc.UserID, nc.Platform, nc.Language, now); err != nil {
				return fmt.Errorf("postgres: create user: %w", err)
			}
		}
		var userPlatform, userLanguage string
		err = tx.QueryRow(ctx, `SELECT platform, language FROM users WHERE tenant_id = $1 AND id = $2`,
			tenantID, nc.UserID).Scan(&userPlatform, &userLanguage)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.FieldError(parley.ENOTFOUND, "body.user_id",
				"user %q not found (set create_user_if_not_exists to create it)", nc.UserID)
		}
		if err != nil {
			return fmt.Errorf("postgres: read user: %w", err)
		}
		out, err = scanConversation(tx.QueryRow(ctx,
			`INSERT INTO conversations (id, tenant_id, bot_id, user_id, external_id, webhook, platform, language,
			   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
			 ON CONFLICT DO NOTHING
			 RETURNING `+conversationColumns,
			parley.NewID(), tenantID, nc.BotID, nc.UserID, nc.ExternalID, nc.Webhook,
			firstNonEmpty(nc.Platform, userPlatform), firstNonEmpty(nc.Language, userLanguage, botLanguage), now))
		if errors.Is(err, pgx.ErrNoRows) { // a concurrent call created it first
			out, err = get(tx)
			if parley.ErrorCode(err) == parley.ECONFLICT {
				return err
			}
			if err != nil {
				return fmt.Errorf("postgres: read conversation: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("postgres: insert conversation: %w", err)
		}
		created = true
		return db.insertEvent(ctx, tx, tenantID, out.ID, parley.EventConversationCreated, out, out.CreatedAt)
	})
	return out, created, err
}

// UpdateConversation sets the webhook, platform or language of a
// conversation when the given value is not empty.
func (db *DB) UpdateConversation(ctx context.Context, tenantID, id, webhook, platform, language string) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx,
		`UPDATE conversations SET webhook = coalesce(nullif($3, ''), webhook),
		   platform = coalesce(nullif($4, ''), platform), language = coalesce(nullif($5, ''), language),
		   updated_at = $6
		 WHERE tenant_id = $1 AND id = $2 RETURNING `+conversationColumns,
		tenantID, id, webhook, platform, language, parley.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update conversation: %w", err)
	}
	return c, nil
}

// GetConversation returns one conversation of a tenant.
func (db *DB) GetConversation(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get conversation: %w", err)
	}
	return c, nil
}

// ListConversations returns the conversations matching f, newest first.
func (db *DB) ListConversations(ctx context.Context, tenantID string, f parley.ConversationFilter) ([]parley.Conversation, error) {
	where := []string{"c.tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
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
		add("c.created_at > ?", f.CreatedAfter)
	}
	if !f.UpdatedAfter.IsZero() {
		add("c.updated_at > ?", f.UpdatedAfter)
	}
	if f.BeforeID != "" {
		add("c.id < ?", f.BeforeID)
	}
	if q := tsQuery(f.Query); q != "" {
		args = append(args, parley.MaxSearchMatches)
		add(`c.id IN (SELECT m.conversation_id FROM messages m
			WHERE m.tsv @@ to_tsquery('english', ?) AND m.tenant_id = $1
			ORDER BY m.created_at DESC LIMIT $`+strconv.Itoa(len(args))+`)`, q)
	} else if strings.TrimSpace(f.Query) != "" {
		return nil, nil // only punctuation: nothing can match
	}
	args = append(args, f.Limit)
	rows, err := db.pool.Query(ctx,
		`SELECT c.id, c.bot_id, c.user_id, c.external_id, c.webhook, c.platform, c.language, c.last_seq,
		   c.created_at, c.updated_at, c.last_message_at, c.memories_seq FROM conversations c
		 WHERE `+strings.Join(where, " AND ")+` ORDER BY c.id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Conversation, error) {
		c, err := scanConversation(row)
		if err != nil {
			return parley.Conversation{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan conversations: %w", err)
	}
	return out, nil
}

// tsQuery turns free text into a to_tsquery expression that matches
// documents with every word; the last word also matches as a prefix, as on
// SQLite. Words are quoted lexemes, so nothing in user input is syntax.
func tsQuery(s string) string {
	words := parley.SearchTerms(s)
	for i, w := range words {
		words[i] = "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	if len(words) > 0 {
		words[len(words)-1] += ":*"
	}
	return strings.Join(words, " & ")
}

// tsQueryAny matches documents with any of the words, for relevance
// ranking (retrieval) rather than filtering.
func tsQueryAny(s string) string {
	words := parley.SearchTerms(s)
	for i, w := range words {
		words[i] = "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	return strings.Join(words, " | ")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

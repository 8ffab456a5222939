package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

const conversationColumns = `id, bot_id, user_id, external_id, webhook, platform, language, last_seq,
	created_at, updated_at, last_message_at`

func scanConversation(row pgx.Row) (*parley.Conversation, error) {
	var c parley.Conversation
	if err := row.Scan(&c.ID, &c.BotID, &c.UserID, &c.ExternalID, &c.Webhook, &c.Platform, &c.Language,
		&c.MessageCount, &c.CreatedAt, &c.UpdatedAt, &c.LastMessageAt); err != nil {
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
	get := func(q pgx.Tx) (*parley.Conversation, error) {
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
	var out *parley.Conversation
	var created bool
	err := db.withTx(ctx, func(tx pgx.Tx) error {
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
		   c.created_at, c.updated_at, c.last_message_at FROM conversations c
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

const messageColumns = `id, conversation_id, seq, from_bot, text, bubbles, media, metadata, status, created_at`

func scanMessage(row pgx.Row, extra ...any) (*parley.Message, error) {
	var m parley.Message
	var metadata []byte
	dest := append([]any{&m.ID, &m.ConversationID, &m.Seq, &m.FromBot, &m.Text, &m.Bubbles, &m.AttachedMedia,
		&metadata, &m.Status, &m.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if metadata != nil {
		m.Metadata = json.RawMessage(metadata)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return &m, nil
}

// AppendMessage stores a message at the end of a conversation. With an
// idempotency key already used for this conversation it returns the stored
// message (Replayed) and stores nothing; a different request under the same
// key is a conflict. A user message enqueues the bot's reply in the same
// transaction, as the bot's reply policy says.
func (db *DB) AppendMessage(ctx context.Context, tenantID, conversationID string, nm parley.NewMessage) (parley.AppendResult, error) {
	var res parley.AppendResult
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		// The row lock serialises appends to one conversation: no gaps, no
		// duplicate sequence numbers, and the plan's checks are safe.
		var st parley.ConversationState
		err := tx.QueryRow(ctx,
			`SELECT c.last_seq, c.last_user_seq, c.answered_seq, c.reply_queued, c.digest, b.reply FROM conversations c
			 JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id
			 WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE OF c`,
			tenantID, conversationID).Scan(&st.LastSeq, &st.LastUserSeq, &st.AnsweredSeq, &st.ReplyQueued, &st.Digest, &st.Reply)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("postgres: lock conversation: %w", err)
		}
		var prior *parley.Idempotent
		if nm.IdempotencyKey != "" {
			var hash *string
			prev, err := scanMessage(tx.QueryRow(ctx,
				`SELECT `+messageColumns+`, request_hash FROM messages WHERE conversation_id = $1 AND idempotency_key = $2`,
				conversationID, nm.IdempotencyKey), &hash)
			switch {
			case err == nil:
				prior = &parley.Idempotent{Message: prev}
				if hash != nil {
					prior.RequestHash = *hash
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("postgres: read idempotent message: %w", err)
			}
		}
		now := parley.Now()
		plan, err := parley.PlanAppend(tenantID, conversationID, st, nm, prior, now)
		if err != nil || plan.Replayed {
			res = parley.AppendResult{Message: plan.Message, Replayed: plan.Replayed}
			return err
		}
		m := plan.Message
		var metadata []byte
		if len(nm.Metadata) > 0 {
			metadata = nm.Metadata
		}
		// One statement, one round trip: the message, and the conversation
		// advanced past it.
		if _, err := tx.Exec(ctx,
			`WITH m AS (INSERT INTO messages (conversation_id, seq, id, tenant_id, from_bot, text, bubbles, media, metadata,
			   idempotency_key, request_hash, created_at, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13))
			 UPDATE conversations SET last_seq = $2, updated_at = $12, last_message_at = $12,
			   last_user_seq = CASE WHEN $14 THEN $2 ELSE last_user_seq END,
			   answered_seq = CASE WHEN $15 THEN $2 ELSE answered_seq END,
			   reply_queued = reply_queued OR $16, digest = $13 WHERE id = $1`,
			conversationID, m.Seq, m.ID, tenantID, m.FromBot, m.Text, m.Bubbles, m.AttachedMedia, metadata,
			nullString(nm.IdempotencyKey), nullString(nm.RequestHash), now, plan.Digest, plan.UserMessage, plan.Answered,
			plan.Job != nil); err != nil {
			return fmt.Errorf("postgres: append message: %w", err)
		}
		res = parley.AppendResult{Message: m}
		if plan.Event {
			if err := db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventMessageCreated, m, now); err != nil {
				return err
			}
		}
		if plan.Job != nil {
			if err := db.enqueue(ctx, tx, *plan.Job, store.ReplyJobOpts()); err != nil {
				return fmt.Errorf("postgres: enqueue reply: %w", err)
			}
		}
		return nil
	})
	return res, err
}

// ListMessages returns a page of a conversation's messages.
func (db *DB) ListMessages(ctx context.Context, tenantID, conversationID string, q parley.HistoryQuery) ([]parley.Message, error) {
	order := "ASC"
	if q.Order == parley.Descending {
		order = "DESC"
	}
	before := q.BeforeSeq
	if before <= 0 {
		before = 1 << 62
	}
	// The tenant check is part of the same statement: no second round trip.
	rows, err := db.pool.Query(ctx,
		`SELECT m.id, m.conversation_id, m.seq, m.from_bot, m.text, m.bubbles, m.media, m.metadata, m.status, m.created_at
		 FROM conversations c LEFT JOIN LATERAL (
		   SELECT * FROM messages WHERE conversation_id = c.id AND seq > $3 AND seq < $4 ORDER BY seq `+order+` LIMIT $5
		 ) m ON true
		 WHERE c.tenant_id = $1 AND c.id = $2 ORDER BY m.seq `+order,
		tenantID, conversationID, q.AfterSeq, before, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list messages: %w", err)
	}
	defer rows.Close()
	found := false
	out := make([]parley.Message, 0, min(q.Limit, 16)) // pages are often short: grow as rows come
	for rows.Next() {
		found = true
		var id, convID *string
		var seq *int64
		var fromBot *bool
		var text *string
		var bubbles []string
		var media []parley.Media
		var metadata []byte
		var status *string
		var created *time.Time
		if err := rows.Scan(&id, &convID, &seq, &fromBot, &text, &bubbles, &media, &metadata, &status, &created); err != nil {
			return nil, fmt.Errorf("postgres: scan message: %w", err)
		}
		if id == nil { // the conversation exists but the page is empty
			continue
		}
		m := parley.Message{ID: *id, ConversationID: *convID, Seq: *seq, FromBot: *fromBot, Text: *text,
			Bubbles: nonNil(bubbles), AttachedMedia: nonNil(media), Status: *status, CreatedAt: created.UTC()}
		if metadata != nil {
			m.Metadata = json.RawMessage(metadata)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list messages: %w", err)
	}
	if !found {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	return out, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// RawInsert writes one message row in its own transaction with nothing else:
// no conversation lock, no sequence check. It is the baseline the benchmark
// compares appends with.
func (db *DB) RawInsert(ctx context.Context, tenantID, conversationID string, seq int64, text string) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO messages (conversation_id, seq, id, tenant_id, from_bot, text, bubbles, media, created_at)
		 VALUES ($1, $2, $3, $4, false, $5, '[]', '[]', $6)`, conversationID, seq, parley.NewID(), tenantID, text, parley.Now())
	return err
}

// HistoryDigest returns how many messages the conversation has and the
// digest of its history up to message seq, or up to the last one when
// there are fewer (parley.ChainDigest); the digest is nil when unknown.
func (db *DB) HistoryDigest(ctx context.Context, tenantID, conversationID string, seq int64) (int64, []byte, error) {
	var stored int64
	var digest []byte
	err := db.pool.QueryRow(ctx,
		`SELECT c.last_seq, m.digest FROM conversations c
		 LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = least(c.last_seq, $1)
		 WHERE c.tenant_id = $2 AND c.id = $3`, seq, tenantID, conversationID).Scan(&stored, &digest)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: read history digest: %w", err)
	}
	if min(stored, seq) <= 0 {
		return stored, parley.ChainStart, nil
	}
	return stored, digest, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// AppendMessage stores a message at the end of a conversation and returns it
// once it is durable. With an idempotency key already used for this
// conversation it returns the stored message (Replayed) and stores nothing;
// a different request under the same key is a conflict.
func (db *DB) AppendMessage(ctx context.Context, tenantID, conversationID string, msg parley.NewMessage) (parley.AppendResult, error) {
	var res parley.AppendResult
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var err error
		res, err = db.appendOne(ctx, tx, tenantID, conversationID, msg)
		return err
	})
	if err != nil {
		return parley.AppendResult{}, err
	}
	if res.Message.FromBot && !res.Replayed && !msg.NoReply {
		db.notify(conversationID) // a bot-side message is an event
	}
	return res, nil
}

// The statements of an append.
const (
	appendStateSQL = `SELECT c.last_seq, c.last_user_seq, c.answered_seq, c.reply_queued, c.digest, b.reply FROM conversations c
	   JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id WHERE c.tenant_id = ? AND c.id = ?`
	appendIdempotentSQL = `SELECT ` + messageColumns + `, request_hash FROM messages WHERE conversation_id = ? AND idempotency_key = ?`
	appendInsertSQL     = `INSERT INTO messages (id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata,
	   idempotency_key, request_hash, created_at, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// The conversation advanced past the message (parley.AppendPlan).
	appendAdvanceSQL = `UPDATE conversations SET last_seq = ?2, updated_at = ?1, last_message_at = ?1,
	   last_user_seq = CASE WHEN ?3 THEN ?2 ELSE last_user_seq END,
	   answered_seq = CASE WHEN ?4 THEN ?2 ELSE answered_seq END,
	   reply_queued = CASE WHEN ?5 THEN 1 ELSE reply_queued END, digest = ?6
	   WHERE id = ?7`
)

func (db *DB) appendOne(ctx context.Context, tx *Tx, tenantID, conversationID string, m parley.NewMessage) (parley.AppendResult, error) {
	var st parley.ConversationState
	var replyJSON string
	err := tx.QueryRowContext(ctx, appendStateSQL, tenantID, conversationID).Scan(&st.LastSeq, &st.LastUserSeq,
		&st.AnsweredSeq, &st.ReplyQueued, &st.Digest, &replyJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.AppendResult{}, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: read conversation: %w", err)
	}
	var prior *parley.Idempotent
	if m.IdempotencyKey != "" {
		var hash sql.NullString
		prev, err := scanMessageWithHash(tx.QueryRowContext(ctx, appendIdempotentSQL, conversationID, m.IdempotencyKey), &hash)
		switch {
		case err == nil:
			prior = &parley.Idempotent{Message: prev, RequestHash: hash.String}
		case !errors.Is(err, sql.ErrNoRows):
			return parley.AppendResult{}, fmt.Errorf("sqlite: read idempotent message: %w", err)
		}
	}
	if err := json.Unmarshal([]byte(replyJSON), &st.Reply); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: decode reply settings: %w", err)
	}
	now := parley.Now()
	plan, err := parley.PlanAppend(tenantID, conversationID, st, m, prior, now)
	if err != nil || plan.Replayed {
		return parley.AppendResult{Message: plan.Message, Replayed: plan.Replayed}, err
	}
	msg := plan.Message
	bubbles, media, err := encodeContent(msg.Bubbles, msg.AttachedMedia)
	if err != nil {
		return parley.AppendResult{}, err
	}
	if _, err := tx.ExecContext(ctx, appendAdvanceSQL, micros(now), msg.Seq, plan.UserMessage, plan.Answered,
		plan.Job != nil, plan.Digest, conversationID); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: advance conversation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, appendInsertSQL, msg.ID, msg.ConversationID, msg.Seq, tenantID, msg.FromBot, msg.Text,
		bubbles, media, nullString(string(m.Metadata)), nullString(m.IdempotencyKey), nullString(m.RequestHash),
		micros(now), plan.Digest); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	if plan.Event {
		if err := db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventMessageCreated, msg, now); err != nil {
			return parley.AppendResult{}, err
		}
	}
	if plan.Job != nil {
		tx.enqueue(*plan.Job, store.ReplyJobOpts())
	}
	return parley.AppendResult{Message: msg}, nil
}

func scanMessageWithHash(row *sql.Row, hash *sql.NullString) (*parley.Message, error) {
	return scanMessage(extraScan{row: row, extra: []any{hash}})
}

// extraScan appends destinations for columns selected after the usual ones.
type extraScan struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

func encodeContent(bubbles []string, attached []parley.Media) (string, string, error) {
	b, err := json.Marshal(nonNil(bubbles))
	if err != nil {
		return "", "", fmt.Errorf("sqlite: encode bubbles: %w", err)
	}
	md, err := json.Marshal(nonNil(attached))
	if err != nil {
		return "", "", fmt.Errorf("sqlite: encode media: %w", err)
	}
	return string(b), string(md), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/reply"
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
	appendStateSQL = `SELECT c.last_user_seq, c.answered_seq, c.reply_queued, c.digest, b.reply FROM conversations c
	   JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id WHERE c.tenant_id = ? AND c.id = ?`
	appendIdempotentSQL = `SELECT ` + messageColumns + `, request_hash FROM messages WHERE conversation_id = ? AND idempotency_key = ?`
	appendInsertSQL     = `INSERT INTO messages (id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata,
	   idempotency_key, request_hash, created_at, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// Takes the next sequence number; a user message also becomes the
	// newest one waiting for a reply. A history-only user message (?4)
	// counts as answered: it is history.
	appendAdvanceSQL = `UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?1, last_message_at = ?1,
	   last_user_seq = CASE WHEN ?2 THEN last_user_seq ELSE last_seq + 1 END,
	   answered_seq = CASE WHEN ?4 AND NOT ?2 THEN last_seq + 1 ELSE answered_seq END,
	   reply_queued = CASE WHEN ?5 THEN 1 ELSE reply_queued END, digest = ?6
	   WHERE id = ?3 RETURNING last_seq`
)

func (db *DB) appendOne(ctx context.Context, tx *Tx, tenantID, conversationID string, m parley.NewMessage) (parley.AppendResult, error) {
	var lastUser, answered int64
	var replyQueued bool
	var replyJSON string
	var digest []byte
	err := tx.QueryRowContext(ctx, appendStateSQL, tenantID, conversationID).Scan(&lastUser, &answered, &replyQueued, &digest, &replyJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.AppendResult{}, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: read conversation: %w", err)
	}
	if m.IdempotencyKey != "" {
		var hash sql.NullString
		prev, err := scanMessageWithHash(tx.QueryRowContext(ctx, appendIdempotentSQL, conversationID, m.IdempotencyKey), &hash)
		if err == nil {
			if hash.String != m.RequestHash {
				return parley.AppendResult{}, parley.FieldError(parley.ECONFLICT, "header.Idempotency-Key",
					"this Idempotency-Key was used for a different request")
			}
			return parley.AppendResult{Message: prev, Replayed: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return parley.AppendResult{}, fmt.Errorf("sqlite: read idempotent message: %w", err)
		}
	}
	var settings parley.ReplySettings
	if err := json.Unmarshal([]byte(replyJSON), &settings); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: decode reply settings: %w", err)
	}
	if !m.FromBot && !m.NoReply && settings.EffectivePolicy() == parley.PolicyReject && lastUser > answered {
		return parley.AppendResult{}, parley.FieldError(parley.ECONFLICT, "body.message",
			"the bot is still replying to an earlier message (reply policy: reject)")
	}
	bubbles, media, err := encodeContent(m)
	if err != nil {
		return parley.AppendResult{}, err
	}
	enqueue := reply.NeedsJob(m, settings, replyQueued)
	now := parley.Now()
	digest = parley.ChainDigest(digest, m.FromBot, parley.Canonical(m.Bubbles, m.Text))
	var seq int64
	if err := tx.QueryRowContext(ctx, appendAdvanceSQL, micros(now), m.FromBot, conversationID, m.NoReply, enqueue, digest).Scan(&seq); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: advance conversation: %w", err)
	}
	msg := &parley.Message{ID: parley.NewID(), ConversationID: conversationID, Seq: seq, FromBot: m.FromBot,
		Text: m.Text, Bubbles: nonNil(m.Bubbles), AttachedMedia: nonNil(m.AttachedMedia), Metadata: m.Metadata, CreatedAt: now}
	if _, err := tx.ExecContext(ctx, appendInsertSQL, msg.ID, msg.ConversationID, msg.Seq, tenantID, msg.FromBot, msg.Text,
		bubbles, media, nullString(string(m.Metadata)), nullString(m.IdempotencyKey), nullString(m.RequestHash),
		micros(now), digest); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	if m.FromBot && m.NoReply {
		return parley.AppendResult{Message: msg}, nil // history the client has: no event
	}
	if m.FromBot {
		// A bot-side message (an operator taking over) triggers no reply,
		// but it is news for the integrator.
		if err := db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventMessageCreated, msg, now); err != nil {
			return parley.AppendResult{}, err
		}
		return parley.AppendResult{Message: msg}, nil
	}
	if !enqueue {
		return parley.AppendResult{Message: msg}, nil
	}
	job := parley.ReplyJob{TenantID: tenantID, ConversationID: conversationID, History: m.ReplyHistory}
	if settings.EffectivePolicy() == parley.PolicyEnqueue {
		job.Seq = seq
	}
	tx.enqueue(job, reply.InsertOpts())
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

func encodeContent(m parley.NewMessage) (bubbles, media string, err error) {
	b, err := json.Marshal(nonNil(m.Bubbles))
	if err != nil {
		return "", "", fmt.Errorf("sqlite: encode bubbles: %w", err)
	}
	md, err := json.Marshal(nonNil(m.AttachedMedia))
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

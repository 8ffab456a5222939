package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley"
)

// maxBatch bounds one group commit: big enough to amortise the fsync, small
// enough that the first request in a batch does not wait long for the last.
const maxBatch = 256

type appendOp struct {
	ctx            context.Context
	tenantID       string
	conversationID string
	msg            parley.NewMessage
	done           chan appendDone
}

type appendDone struct {
	res parley.AppendResult
	err error
}

// AppendMessage stores a message at the end of a conversation and returns it
// once it is durable. With an idempotency key already used for this
// conversation it returns the stored message (Replayed) and stores nothing;
// a different request under the same key is a conflict.
func (db *DB) AppendMessage(ctx context.Context, tenantID, conversationID string, msg parley.NewMessage) (parley.AppendResult, error) {
	op := &appendOp{ctx: ctx, tenantID: tenantID, conversationID: conversationID, msg: msg, done: make(chan appendDone, 1)}
	select {
	case db.appends <- op:
	case <-ctx.Done():
		return parley.AppendResult{}, ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed, and the caller must not guess.
	d := <-op.done
	return d.res, d.err
}

// runAppends is the group committer: it takes every append waiting, runs them
// in one transaction (each under its own savepoint, so one bad append does
// not fail its neighbours) and answers them all after the commit.
func (db *DB) runAppends(ctx context.Context) {
	batch := make([]*appendOp, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			db.failQueued(errors.New("sqlite: store closed"))
			return
		case op := <-db.appends:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-db.appends:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
		select {
		case db.indexed <- struct{}{}:
		default:
		}
	}
}

func (db *DB) failQueued(err error) {
	for {
		select {
		case op := <-db.appends:
			op.done <- appendDone{err: err}
		default:
			return
		}
	}
}

func (db *DB) commitBatch(batch []*appendOp) {
	results := make([]appendDone, len(batch))
	// The batch runs under a background context: one caller going away must
	// not roll back everybody else's writes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		for i, op := range batch {
			if err := op.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT append_op`); err != nil {
				return fmt.Errorf("sqlite: savepoint: %w", err)
			}
			res, err := appendOne(ctx, tx, op)
			if err != nil {
				results[i].err = err
				if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO append_op`); rerr != nil {
					return fmt.Errorf("sqlite: rollback to savepoint: %w", rerr)
				}
			} else {
				results[i].res = res
			}
			if _, err := tx.ExecContext(ctx, `RELEASE append_op`); err != nil {
				return fmt.Errorf("sqlite: release savepoint: %w", err)
			}
		}
		return nil
	})
	for i, op := range batch {
		if err != nil {
			op.done <- appendDone{err: err}
			continue
		}
		op.done <- results[i]
	}
}

func appendOne(ctx context.Context, tx *sql.Tx, op *appendOp) (parley.AppendResult, error) {
	var lastSeq int64
	err := tx.QueryRowContext(ctx, `SELECT last_seq FROM conversations WHERE tenant_id = ? AND id = ?`,
		op.tenantID, op.conversationID).Scan(&lastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.AppendResult{}, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", op.conversationID)
	}
	if err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: read conversation: %w", err)
	}
	m := op.msg
	if m.IdempotencyKey != "" {
		var hash sql.NullString
		prev, err := scanMessageWithHash(tx.QueryRowContext(ctx,
			`SELECT `+messageColumns+`, request_hash FROM messages WHERE conversation_id = ? AND idempotency_key = ?`,
			op.conversationID, m.IdempotencyKey), &hash)
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
	bubbles, media, err := encodeContent(m)
	if err != nil {
		return parley.AppendResult{}, err
	}
	now := parley.Now()
	msg := &parley.Message{ID: parley.NewID(), ConversationID: op.conversationID, Seq: lastSeq + 1, FromBot: m.FromBot,
		Text: m.Text, Bubbles: nonNil(m.Bubbles), AttachedMedia: nonNil(m.AttachedMedia), Metadata: m.Metadata, CreatedAt: now}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO messages (id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata,
		   idempotency_key, request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		msg.ID, msg.ConversationID, msg.Seq, op.tenantID, msg.FromBot, msg.Text, bubbles, media,
		nullString(string(m.Metadata)), nullString(m.IdempotencyKey), nullString(m.RequestHash), micros(now)); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE conversations SET last_seq = ?, updated_at = ?, last_message_at = ? WHERE id = ?`,
		msg.Seq, micros(now), micros(now), op.conversationID); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: advance conversation: %w", err)
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

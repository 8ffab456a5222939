package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// insertEvent stores an event and, when the conversation has a webhook
// (its own, else its bot's) that is not disabled, the event's delivery and
// the job that sends it: all in the caller's transaction, so that an event
// and its delivery exist together or not at all. The caller notifies live
// subscribers after commit.
func (db *DB) insertEvent(ctx context.Context, tx *Tx, tenantID, conversationID, typ string, data any, now time.Time) error {
	var hook eventHook
	if err := tx.QueryRowContext(ctx, `SELECT `+hookColumns+` FROM conversations c
		 JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id WHERE c.id = ?`, conversationID).Scan(hook.dest()...); err != nil {
		return fmt.Errorf("sqlite: read webhook: %w", err)
	}
	return db.insertHookedEvent(ctx, tx, tenantID, conversationID, hook, typ, data, now)
}

// eventHook is where a conversation's events go, read with hookColumns
// from the conversation (c) joined with its bot (b): a write that reads
// the conversation anyway reads it in the same statement.
type eventHook struct {
	botID, userID, url string
	disabled           bool
}

const hookColumns = `c.bot_id, c.user_id, coalesce(nullif(c.webhook, ''), b.webhook),
	EXISTS (SELECT 1 FROM webhook_disabled d WHERE d.tenant_id = c.tenant_id
	        AND d.url = coalesce(nullif(c.webhook, ''), b.webhook))`

func (h *eventHook) dest() []any { return []any{&h.botID, &h.userID, &h.url, &h.disabled} }

// insertHookedEvent is insertEvent with the conversation's webhook read.
func (db *DB) insertHookedEvent(ctx context.Context, tx *Tx, tenantID, conversationID string, hook eventHook, typ string, data any, now time.Time) error {
	object, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("sqlite: encode event: %w", err)
	}
	var eventID int64
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO events (tenant_id, conversation_id, type, data, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		tenantID, conversationID, typ, string(object), micros(now)).Scan(&eventID); err != nil {
		return fmt.Errorf("sqlite: insert event: %w", err)
	}
	if hook.url == "" || hook.disabled {
		return nil
	}
	payload, err := parley.WebhookPayload(typ, now, parley.WebhookEventData(typ, eventID, conversationID, hook.botID, hook.userID, object))
	if err != nil {
		return err
	}
	id := parley.NewDeliveryID()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO webhook_deliveries (id, tenant_id, conversation_id, event_id, event_type, url, payload, status,
		   created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, tenantID, conversationID, eventID, typ, hook.url, string(payload), parley.DeliveryPending, micros(now), micros(now)); err != nil {
		return fmt.Errorf("sqlite: insert delivery: %w", err)
	}
	tx.enqueue(parley.WebhookJob{TenantID: tenantID, DeliveryID: id}, store.DeliveryJobOpts())
	return nil
}

// notify tells live subscribers that a conversation has new events.
func (db *DB) notify(conversationID string) {
	if db.hub != nil {
		db.hub.Notify(conversationID)
	}
}

// PublishDelta passes a streamed piece of a reply to live subscribers.
func (db *DB) PublishDelta(_ context.Context, d parley.Delta) error {
	if db.hub != nil {
		db.hub.PublishDelta(d)
	}
	return nil
}

// ReplyState reads what the reply pipeline needs about a conversation: one
// statement, since every reply starts with it.
func (db *DB) ReplyState(ctx context.Context, tenantID, conversationID string) (*parley.ReplyState, error) {
	st := parley.ReplyState{TenantID: tenantID}
	var br botRow
	var ur userRow
	extra := append([]any{&st.LastUserSeq, &st.AnsweredSeq, &st.Summary, &st.SummarySeq}, br.dest()...)
	c, err := scanConversation(extraScan{row: db.read.QueryRowContext(ctx,
		`SELECT `+prefixed("c.", conversationColumns)+`, c.last_user_seq, c.answered_seq, c.summary, c.summary_seq,
		   `+prefixed("b.", botColumns)+`, `+prefixed("u.", userColumns)+`
		 FROM conversations c
		 JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id
		 JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id
		 WHERE c.tenant_id = ? AND c.id = ?`, tenantID, conversationID),
		extra: append(extra, ur.dest()...)})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read reply state: %w", err)
	}
	b, err := br.decode()
	if err != nil {
		return nil, fmt.Errorf("sqlite: read bot: %w", err)
	}
	u, err := ur.decode()
	if err != nil {
		return nil, fmt.Errorf("sqlite: read user: %w", err)
	}
	st.Conversation, st.Bot, st.User = *c, *b, *u
	return &st, nil
}

// SearchMessages returns, for each of terms, the conversation's most
// recent messages below beforeSeq (0: any) that contain it, at most
// perTerm of them, newest first: one statement for all terms. A message
// may come once per term it holds. Ranking is the caller's: FTS5's bm25()
// would scan every conversation's matches for its statistics.
func (db *DB) SearchMessages(ctx context.Context, tenantID, conversationID string, terms []string, beforeSeq int64, perTerm int) ([]parley.Message, error) {
	conv := `conv : "` + strings.ReplaceAll(conversationID, "-", "") + `" AND text : (`
	var parts []string
	var args []any
	for _, term := range terms {
		q := ftsQueryAny(term)
		if q == "" {
			continue
		}
		// The seq bound is given to the index as a rowid bound (a
		// conversation's rows are numbered in seq order), so that matches
		// inside the history window are never read: a search for a common
		// word would otherwise read and throw away dozens of them first.
		parts = append(parts, `SELECT * FROM (SELECT `+prefixed("m.", messageColumns)+`
		   FROM messages_fts f JOIN messages m ON m.pk = f.rowid
		   WHERE messages_fts MATCH ? AND f.rowid < coalesce((SELECT pk FROM messages
		         WHERE conversation_id = ? AND seq = ?), 9223372036854775807)
		     AND m.conversation_id = ? AND m.tenant_id = ? AND (? = 0 OR m.seq < ?)
		   ORDER BY f.rowid DESC LIMIT ?)`)
		args = append(args, conv+q+`)`, conversationID, beforeSeq, conversationID, tenantID, beforeSeq, beforeSeq, perTerm)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	rows, err := db.read.QueryContext(ctx, strings.Join(parts, "\n UNION ALL "), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search messages: %w", err)
	}
	defer rows.Close()
	var out []parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan message: %w", err)
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// LockReply takes the conversation's reply lock, if free, and returns the
// function that gives it back. A SQLite database is served by one process,
// so an in-process lock is enough and costs no write.
func (db *DB) LockReply(ctx context.Context, conversationID string) (unlock func(), ok bool, err error) {
	db.replyMu.Lock()
	defer db.replyMu.Unlock()
	if db.replying == nil {
		db.replying = map[string]bool{}
	}
	if db.replying[conversationID] {
		return nil, false, nil
	}
	db.replying[conversationID] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			db.replyMu.Lock()
			delete(db.replying, conversationID)
			db.replyMu.Unlock()
		})
	}, true, nil
}

// StoreReply stores a bot reply, its context and the updated summary, and
// marks the user messages up to r.UptoSeq answered, all at once, as
// parley.PlanReply says. It returns nil when there was nothing to store.
func (db *DB) StoreReply(ctx context.Context, tenantID, conversationID string, r parley.Reply) (*parley.Message, error) {
	var out *parley.Message
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var st parley.ConversationState
		var hook eventHook
		err := tx.QueryRowContext(ctx,
			`SELECT c.last_user_seq, c.answered_seq, c.last_seq, c.summary_seq, c.digest, `+hookColumns+`
			 FROM conversations c JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id
			 WHERE c.tenant_id = ? AND c.id = ?`,
			tenantID, conversationID).Scan(append([]any{&st.LastUserSeq, &st.AnsweredSeq, &st.LastSeq, &st.SummarySeq, &st.Digest},
			hook.dest()...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read conversation: %w", err)
		}
		now := parley.Now()
		plan := parley.PlanReply(tenantID, conversationID, st, r, now)
		m := plan.Message
		if m == nil {
			return endTurn(ctx, tx, conversationID, plan.Turn)
		}
		bubbles, media, err := encodeContent(m.Bubbles, m.AttachedMedia)
		if err != nil {
			return err
		}
		var pk int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO messages (id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata, created_at, digest)
			 VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING pk`,
			m.ID, conversationID, m.Seq, tenantID, m.Text, bubbles, media, nullString(string(m.Metadata)), micros(now), plan.Digest).Scan(&pk); err != nil {
			return fmt.Errorf("sqlite: insert reply: %w", err)
		}
		// Ending the turn goes with the advance: one statement fewer.
		if _, err := tx.ExecContext(ctx,
			`UPDATE conversations SET last_seq = ?, answered_seq = ?, updated_at = ?, last_message_at = ?,
			   summary = CASE WHEN ? THEN ? ELSE summary END, summary_seq = ?, digest = ?,
			   reply_queued = CASE WHEN ? THEN ? ELSE reply_queued END
			 WHERE id = ?`,
			m.Seq, plan.AnsweredSeq, micros(now), micros(now), plan.NewSummary, plan.Summary, plan.SummarySeq, plan.Digest,
			plan.Turn.End, plan.Turn.Pending, conversationID); err != nil {
			return fmt.Errorf("sqlite: advance conversation: %w", err)
		}
		if plan.Turn.Job != nil {
			tx.enqueue(*plan.Turn.Job, store.ReplyJobOpts())
		}
		if len(r.Context) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO reply_contexts (message_pk, context) VALUES (?, ?)`,
				pk, string(r.Context)); err != nil {
				return fmt.Errorf("sqlite: insert reply context: %w", err)
			}
		}
		if err := db.insertHookedEvent(ctx, tx, tenantID, conversationID, hook, parley.EventMessageCreated, m, now); err != nil {
			return err
		}
		out = m
		return nil
	})
	if out != nil {
		db.notify(conversationID)
	}
	return out, err
}

// FailReply records a reply that could not be made, as parley.PlanFailure
// says: its user messages reply_failed, and a reply.failed event.
func (db *DB) FailReply(ctx context.Context, tenantID, conversationID string, uptoSeq int64, reason string, release bool) error {
	defer db.notify(conversationID)
	return db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var st parley.ConversationState
		err := tx.QueryRowContext(ctx, `SELECT answered_seq, last_user_seq FROM conversations WHERE tenant_id = ? AND id = ?`,
			tenantID, conversationID).Scan(&st.AnsweredSeq, &st.LastUserSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read conversation: %w", err)
		}
		plan := parley.PlanFailure(tenantID, conversationID, st, uptoSeq, reason, release)
		if err := endTurn(ctx, tx, conversationID, plan.Turn); err != nil {
			return err
		}
		f := plan.Failure
		if f == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE messages SET status = ? WHERE conversation_id = ? AND seq >= ? AND seq <= ? AND from_bot = 0`,
			parley.StatusReplyFailed, conversationID, f.FromSeq, f.ToSeq); err != nil {
			return fmt.Errorf("sqlite: mark failed messages: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET answered_seq = ? WHERE id = ?`, f.ToSeq, conversationID); err != nil {
			return fmt.Errorf("sqlite: advance answered: %w", err)
		}
		return db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventReplyFailed, f, parley.Now())
	})
}

// ReplyContext returns what the model was sent for the bot reply at seq.
func (db *DB) ReplyContext(ctx context.Context, tenantID, conversationID string, seq int64) (json.RawMessage, error) {
	var c string
	err := db.read.QueryRowContext(ctx,
		`SELECT rc.context FROM messages m JOIN reply_contexts rc ON rc.message_pk = m.pk
		 WHERE m.conversation_id = ? AND m.seq = ? AND m.tenant_id = ?`, conversationID, seq, tenantID).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "no reply context for message %d of conversation %q", seq, conversationID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read reply context: %w", err)
	}
	return json.RawMessage(c), nil
}

// ListEvents returns a conversation's events after an event id, oldest first.
func (db *DB) ListEvents(ctx context.Context, tenantID, conversationID string, afterID int64, limit int) ([]parley.Event, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, type, conversation_id, data, created_at FROM events
		 WHERE tenant_id = ? AND conversation_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, conversationID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	var out []parley.Event
	for rows.Next() {
		var e parley.Event
		var data string
		var created int64
		if err := rows.Scan(&e.ID, &e.Type, &e.ConversationID, &data, &created); err != nil {
			return nil, fmt.Errorf("sqlite: scan event: %w", err)
		}
		e.Data, e.CreatedAt = json.RawMessage(data), fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// endTurn ends a reply job's turn as the plan says (parley.TurnEnd), in a
// write that does not advance the conversation.
func endTurn(ctx context.Context, tx *Tx, conversationID string, t parley.TurnEnd) error {
	if !t.End {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE conversations SET reply_queued = ? WHERE id = ?`, t.Pending, conversationID); err != nil {
		return fmt.Errorf("sqlite: end reply turn: %w", err)
	}
	if t.Job != nil {
		tx.enqueue(*t.Job, store.ReplyJobOpts())
	}
	return nil
}

// ClaimReply marks that a reply job has taken its turn: messages appended
// from now on queue a job of their own. It returns the newest user message,
// which the claiming job answers. A claim is redoable: lost to a power cut,
// it goes with the reply and the job's completion committed after it, and
// the job, run again, claims again.
func (db *DB) ClaimReply(ctx context.Context, tenantID, conversationID string) (int64, error) {
	var last int64
	err := db.inGroup(ctx, redoable, func(ctx context.Context, tx *Tx) error {
		err := tx.QueryRowContext(ctx,
			`UPDATE conversations SET reply_queued = 0 WHERE tenant_id = ? AND id = ? RETURNING last_user_seq`,
			tenantID, conversationID).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim reply: %w", err)
		}
		return nil
	})
	return last, err
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// ReplyState reads what the reply pipeline needs about a conversation: one
// statement, since every reply starts with it.
func (db *DB) ReplyState(ctx context.Context, tenantID, conversationID string) (*parley.ReplyState, error) {
	st := parley.ReplyState{TenantID: tenantID}
	var br botRow
	var ur userRow
	extra := append([]any{&st.LastUserSeq, &st.AnsweredSeq, &st.Summary, &st.SummarySeq, &st.HasContent}, br.dest()...)
	c, err := scanConversation(extraScan{row: db.read.QueryRowContext(ctx,
		`SELECT `+prefixed("c.", conversationColumns)+`, c.last_user_seq, c.answered_seq, c.summary, c.summary_seq,
		   EXISTS (SELECT 1 FROM content_items i WHERE i.tenant_id = c.tenant_id AND i.bot_id = c.bot_id),
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

// LockReply takes the conversation's reply lock, if free, then reads the
// reply's state, and returns the function that gives the lock back. A
// SQLite database is served by one process, so an in-process lock is
// enough and costs no write.
func (db *DB) LockReply(ctx context.Context, tenantID, conversationID string, read parley.ReplyRead) (st *parley.ReplyState, unlock func(), ok bool, err error) {
	unlock, ok = db.lockReply(conversationID)
	if st, err = db.replyRead(ctx, tenantID, conversationID, read); err != nil {
		if ok {
			unlock()
		}
		return nil, nil, false, err
	}
	return st, unlock, ok, nil
}

// replyRead is the reply's state and what read asks for, read in turn:
// each is a read of the process's own database.
func (db *DB) replyRead(ctx context.Context, tenantID, conversationID string, read parley.ReplyRead) (*parley.ReplyState, error) {
	st, err := db.ReplyState(ctx, tenantID, conversationID)
	if err != nil {
		return nil, err
	}
	if read.Messages > 0 {
		if st.Messages, err = db.ListMessages(ctx, tenantID, conversationID,
			parley.HistoryQuery{AfterSeq: read.AfterSeq, Limit: read.Messages, Order: parley.Ascending}); err != nil {
			return nil, err
		}
	}
	if read.Memories > 0 {
		if st.Memories, err = db.ListMemories(ctx, tenantID,
			parley.MemoryFilter{BotID: st.Conversation.BotID, UserID: st.Conversation.UserID, Limit: read.Memories}); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// lockReply takes the in-process lock of LockReply.
func (db *DB) lockReply(conversationID string) (unlock func(), ok bool) {
	db.replyMu.Lock()
	defer db.replyMu.Unlock()
	if db.replying == nil {
		db.replying = map[string]*byte{}
	}
	if db.replying[conversationID] != nil {
		return nil, false
	}
	token := new(byte)
	db.replying[conversationID] = token
	var once sync.Once
	return func() {
		once.Do(func() {
			db.replyMu.Lock()
			if db.replying[conversationID] == token { // not given back with a reply, nor taken again since
				delete(db.replying, conversationID)
			}
			db.replyMu.Unlock()
		})
	}, true
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
		bubbles, media, err := encodeContent(m.Text, m.Bubbles, m.AttachedMedia)
		if err != nil {
			return err
		}
		var pk int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO messages (pk, id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata, created_at, digest)
			 VALUES (`+nextPKSQL+`, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING pk`,
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
	if err == nil { // the reply lock's holder stored its reply: the lock is free (parley.Replies)
		db.replyMu.Lock()
		delete(db.replying, conversationID)
		db.replyMu.Unlock()
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

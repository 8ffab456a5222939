package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// ReplyState reads what the reply pipeline needs about a conversation.
func (db *DB) ReplyState(ctx context.Context, tenantID, conversationID string) (*parley.ReplyState, error) {
	var rs replyStateRow
	err := db.pool.QueryRow(ctx, `SELECT `+replyStateColumns+` FROM `+replyStateTables+` WHERE c.tenant_id = $1 AND c.id = $2`,
		tenantID, conversationID).Scan(rs.dest()...)
	return rs.state(tenantID, conversationID, err)
}

// A reply's state: its conversation, bot and user.
const (
	replyStateColumns = `c.id, c.bot_id, c.user_id, c.external_id, c.webhook, c.platform, c.language, c.last_seq,
	   c.created_at, c.updated_at, c.last_message_at, c.last_user_seq, c.answered_seq, c.summary, c.summary_seq,
	   b.id, b.name, b.persona, b.language, b.webhook, b.model, b.reply, b.created_at, b.updated_at, b.model_key,
	   u.id, u.platform, u.language, u.kv, u.created_at, u.updated_at,
	   EXISTS (SELECT 1 FROM content_items i WHERE i.tenant_id = c.tenant_id AND i.bot_id = c.bot_id)`
	replyStateTables = `conversations c
	 JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id
	 JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id`
)

// replyStateRow is a row of replyStateColumns.
type replyStateRow struct {
	st parley.ReplyState
	c  parley.Conversation
	b  parley.Bot
	u  parley.User
}

func (r *replyStateRow) dest() []any {
	c, b, u, st := &r.c, &r.b, &r.u, &r.st
	return []any{&c.ID, &c.BotID, &c.UserID, &c.ExternalID, &c.Webhook, &c.Platform, &c.Language, &c.MessageCount,
		&c.CreatedAt, &c.UpdatedAt, &c.LastMessageAt, &st.LastUserSeq, &st.AnsweredSeq, &st.Summary, &st.SummarySeq,
		&b.ID, &b.Name, &b.Persona, &b.Language, &b.Webhook, &b.Model, &b.Reply, &b.CreatedAt, &b.UpdatedAt, &b.ModelKey,
		&u.ID, &u.Platform, &u.Language, &u.KV, &u.CreatedAt, &u.UpdatedAt, &st.HasContent}
}

// state is the row read, or what the read's error means.
func (r *replyStateRow) state(tenantID, conversationID string, err error) (*parley.ReplyState, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read reply state: %w", err)
	}
	c, b, u := r.c, r.b, r.u
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	if u.KV == nil {
		u.KV = map[string]any{}
	}
	st := r.st
	st.TenantID = tenantID
	st.Conversation, st.Bot, st.User = c, b, u
	return &st, nil
}

// LockReply takes the conversation's reply lease, if free, and returns the
// function that gives it back. The lease spans replicas; it lasts
// Options.ReplyLease and is renewed every third of that for as long as the
// reply is being made, so that a replica that dies frees its conversations
// within one lease. Taking and renewing it, and giving it back by unlock,
// commit without waiting for the WAL flush: a lease lost to a crash of
// the server only lets a second reply start, and StoreReply stores one
// reply per message whatever the leases say. Closing the store stops the
// renewals.
//
// The lease is taken in the round trip that reads the reply's state, and
// the reply stored under it gives it back in the group commit that stores
// it (heldLease): round trips, more than the statements in them, are what
// a reply costs PostgreSQL (docs/performance.md).
func (db *DB) LockReply(ctx context.Context, tenantID, conversationID string, read parley.ReplyRead) (st *parley.ReplyState, unlock func(), ok bool, err error) {
	holder := uuid.New()
	ttl := db.replyLease
	// One round trip: the state is read by a statement of its own, so that
	// it sees what committed while the take waited for a lease being given
	// back (a statement's snapshot is taken as it starts); what read asks
	// for comes in statements after it.
	var rs replyStateRow
	var msgs []parley.Message
	var mems []parley.Memory
	var b pgx.Batch
	b.Queue(takeLeaseSQL, tenantID, conversationID, holder, ttl.Seconds()).Query(func(rows pgx.Rows) error {
		ok = rows.Next()
		rows.Close()
		return rows.Err()
	})
	b.Queue(`SELECT `+replyStateColumns+` FROM `+replyStateTables+` WHERE c.tenant_id = $1 AND c.id = $2`,
		tenantID, conversationID).QueryRow(func(row pgx.Row) error { return row.Scan(rs.dest()...) })
	if read.Messages > 0 {
		b.Queue(`SELECT `+messageColumns+` FROM messages WHERE conversation_id = $2 AND tenant_id = $1 AND seq > $3 ORDER BY seq LIMIT $4`,
			tenantID, conversationID, read.AfterSeq, read.Messages).Query(func(rows pgx.Rows) (err error) {
			msgs, err = collectPage(rows, conversationID, read.Messages)
			return err
		})
	}
	if read.Memories > 0 {
		b.Queue(`SELECT `+memoryColumns+` FROM memories WHERE tenant_id = $1
			   AND (user_id, bot_id) = (SELECT user_id, bot_id FROM conversations WHERE tenant_id = $1 AND id = $2)
			 ORDER BY id DESC LIMIT $3`, tenantID, conversationID, read.Memories).Query(func(rows pgx.Rows) (err error) {
			mems, err = collectMemories(rows)
			return err
		})
	}
	err = db.pool.SendBatch(ctx, &b).Close()
	if st, err = rs.state(tenantID, conversationID, err); err != nil {
		return nil, nil, false, err
	}
	st.Messages, st.Memories = msgs, mems
	if !ok {
		return st, nil, false, nil
	}
	// Renew on a context of its own: the reply's may end before unlock,
	// and the lease must not lapse while the reply is still stored.
	renewCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	db.renewing.Add(1)
	go func() {
		defer db.renewing.Done()
		defer close(renewed)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-db.closing: // the store is closing: the lease lapses
				return
			case <-t.C:
			}
			if _, err := db.pool.Exec(renewCtx, renewLeaseSQL, conversationID, holder, ttl.Seconds()); err != nil && renewCtx.Err() == nil {
				db.logger.Warn("renew reply lease", "conversation_id", conversationID, "err", err)
			}
		}
	}()
	lease := &heldLease{holder: holder}
	db.held.Store(conversationID, lease)
	var once sync.Once
	return st, func() {
		once.Do(func() {
			stop()
			<-renewed
			db.held.CompareAndDelete(conversationID, lease)
			if lease.given.Load() {
				return
			}
			if _, err := db.pool.Exec(context.WithoutCancel(ctx), giveLeaseSQL, conversationID, holder); err != nil {
				db.logger.Warn("give back reply lease", "conversation_id", conversationID, "err", err)
			}
		})
	}, true, nil
}

// heldLease is a reply lease this process holds. given: a reply stored
// under it gave it back.
type heldLease struct {
	holder uuid.UUID
	given  atomic.Bool
}

// The lease statements. takeLeaseSQL returns a row only when the lease
// was taken: the tenant has the conversation, and the lease was free or
// had expired. Its transaction does not wait for its WAL flush, nor does
// the read sent with it, in the same implicit transaction, whose
// statements are planned once (genericPlans). A lease given
// back is expired in place: the row stays, for the next take to update
// (migration 00013).
const (
	takeLeaseSQL = `WITH durability AS (SELECT set_config('synchronous_commit', 'off', true), ` + genericPlans + `)
	INSERT INTO reply_leases (conversation_id, holder, expires_at)
	SELECT id, $3, now() + make_interval(secs => $4) FROM conversations, durability WHERE tenant_id = $1 AND id = $2
	ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
	WHERE reply_leases.expires_at < now()
	RETURNING true`
	renewLeaseSQL = `WITH durability AS (SELECT set_config('synchronous_commit', 'off', true))
	UPDATE reply_leases SET expires_at = now() + make_interval(secs => $3) FROM durability
	WHERE conversation_id = $1 AND holder = $2`
	giveLeaseSQL = `WITH durability AS (SELECT set_config('synchronous_commit', 'off', true))
	UPDATE reply_leases SET expires_at = '-infinity' FROM durability WHERE conversation_id = $1 AND holder = $2`
)

// StoreReply stores a bot reply, its context and the updated summary, and
// marks the user messages up to r.UptoSeq answered, all at once, as
// parley.PlanReply says. It returns nil when there was nothing to store.
func (db *DB) StoreReply(ctx context.Context, tenantID, conversationID string, r parley.Reply) (*parley.Message, error) {
	op := &groupOp{tenantID: tenantID, conversationID: conversationID, reply: &r}
	if l, ok := db.held.Load(conversationID); ok {
		op.lease = l.(*heldLease)
	}
	err := db.inGroup(ctx, op)
	if err == nil && op.lease != nil {
		op.lease.given.Store(true)
	}
	return op.stored, err
}

// FailReply records a reply that could not be made, as parley.PlanFailure
// says: its user messages reply_failed, and a reply.failed event.
func (db *DB) FailReply(ctx context.Context, tenantID, conversationID string, uptoSeq int64, reason string, release bool) error {
	return db.withTx(ctx, func(tx pgx.Tx) error {
		var st parley.ConversationState
		// NO KEY, as the group's lock (writeGroup): rows that refer to
		// the conversation are inserted meanwhile.
		err := tx.QueryRow(ctx, `SELECT answered_seq, last_user_seq FROM conversations WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE`,
			tenantID, conversationID).Scan(&st.AnsweredSeq, &st.LastUserSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("postgres: lock conversation: %w", err)
		}
		plan := parley.PlanFailure(tenantID, conversationID, st, uptoSeq, reason, release)
		if err := db.endTurn(ctx, tx, conversationID, plan.Turn); err != nil {
			return err
		}
		f := plan.Failure
		if f == nil {
			return nil
		}
		if _, err := tx.Exec(ctx,
			`UPDATE messages SET status = $1 WHERE conversation_id = $2 AND seq >= $3 AND seq <= $4 AND NOT from_bot`,
			parley.StatusReplyFailed, conversationID, f.FromSeq, f.ToSeq); err != nil {
			return fmt.Errorf("postgres: mark failed messages: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE conversations SET answered_seq = $2 WHERE id = $1`, conversationID, f.ToSeq); err != nil {
			return fmt.Errorf("postgres: advance answered: %w", err)
		}
		return db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventReplyFailed, f, parley.Now())
	})
}

// ReplyContext returns what the model was sent for the bot reply at seq.
func (db *DB) ReplyContext(ctx context.Context, tenantID, conversationID string, seq int64) (json.RawMessage, error) {
	var c []byte
	err := db.pool.QueryRow(ctx,
		`SELECT coalesce(rc.context_text, rc.context::text) FROM reply_contexts rc JOIN conversations c ON c.id = rc.conversation_id
		 WHERE c.tenant_id = $1 AND rc.conversation_id = $2 AND rc.seq = $3`, tenantID, conversationID, seq).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "no reply context for message %d of conversation %q", seq, conversationID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read reply context: %w", err)
	}
	return json.RawMessage(c), nil
}

// endTurn ends a reply job's turn as the plan says (parley.TurnEnd), in a
// write that does not advance the conversation. The caller holds the
// conversation's row lock.
func (db *DB) endTurn(ctx context.Context, tx pgx.Tx, conversationID string, t parley.TurnEnd) error {
	if !t.End {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE conversations SET reply_queued = $2 WHERE id = $1`, conversationID, t.Pending); err != nil {
		return fmt.Errorf("postgres: end reply turn: %w", err)
	}
	if t.Job != nil {
		if err := db.enqueue(ctx, tx, *t.Job, store.ReplyJobOpts()); err != nil {
			return fmt.Errorf("postgres: enqueue reply: %w", err)
		}
	}
	return nil
}

// ClaimReply marks that a reply job has taken its turn: messages appended
// from now on queue a job of their own. It returns the newest user message,
// which the claiming job answers.
//
// The claim commits without waiting for its WAL flush (synchronous_commit
// off for its transaction alone): it is redoable, as on SQLite. A claim
// lost to a crash of the server takes with it everything committed after
// it, since a commit that waits flushes the WAL up to itself, the job's
// completion included; the job runs again and claims again.
func (db *DB) ClaimReply(ctx context.Context, tenantID, conversationID string) (int64, error) {
	var last int64
	err := db.pool.QueryRow(ctx, claimReplySQL, tenantID, conversationID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: claim reply: %w", err)
	}
	return last, nil
}

// claimReplySQL sets synchronous_commit for the statement's own
// transaction: one round trip, no explicit transaction.
const claimReplySQL = `WITH durability AS (SELECT set_config('synchronous_commit', 'off', true))
	UPDATE conversations SET reply_queued = false FROM durability
	WHERE tenant_id = $1 AND id = $2 RETURNING last_user_seq`

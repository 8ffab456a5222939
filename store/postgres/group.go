package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// maxGroup bounds one group commit.
const maxGroup = 128

// groupShards is how many groups commit at once, each for its share of
// the conversations, each on a connection of its own. A conversation
// always falls in the same shard, so that two groups of one replica never
// wait for each other's row locks.
const groupShards = 4

// groupTimeout bounds a group's transaction: its writers wait for it
// whatever their own deadlines, so a database that stops answering must
// end it.
const groupTimeout = 30 * time.Second

// groupOp is one write waiting for a group commit — an append (nm), or a
// reply to store (reply) — and its outcome.
type groupOp struct {
	tenantID, conversationID string
	nm                       parley.NewMessage
	res                      parley.AppendResult // the append's
	reply                    *parley.Reply
	lease                    *heldLease      // the reply's lease, given back with it
	stored                   *parley.Message // the reply's, nil when nothing was stored
}

// inGroup runs a write in a group commit (store.Group): one transaction
// and one WAL flush with the other writes waiting, where PostgreSQL would
// flush once per transaction.
func (db *DB) inGroup(ctx context.Context, op *groupOp) error {
	h := fnv.New32a()
	_, _ = h.Write([]byte(op.conversationID))
	return db.groups[h.Sum32()%groupShards].Do(ctx, op)
}

// commitGroup commits a group of writes in a few round trips whatever its
// size (writeGroup). Should the group fail in the database (a deadlock
// with a writer outside the groups, a constraint), each write runs again
// in a transaction of its own, so that one write's failure is its own.
// Writes whose callers have gone by then are skipped.
func (db *DB) commitGroup(batch []*store.GroupOp[*groupOp]) []error {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	errs := make([]error, len(batch))
	var ops []*groupOp
	var at []int // ops[k] is batch[at[k]]
	for i, op := range batch {
		if errs[i] = op.Ctx.Err(); errs[i] == nil {
			ops, at = append(ops, op.Item), append(at, i)
		}
	}
	if len(ops) == 0 {
		return errs
	}
	var outcomes []error
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		outcomes, err = db.writeGroup(ctx, tx, ops)
		return err
	})
	for k, i := range at {
		switch {
		case err == nil:
			errs[i] = outcomes[k]
		case len(ops) == 1 || db.Unavailable(err):
			errs[i] = err // alone again, it would fail again
		default: // a group of one
			errs[i] = db.withTx(ctx, func(tx pgx.Tx) error {
				outcomes, err := db.writeGroup(ctx, tx, ops[k:k+1])
				if err != nil {
					return err
				}
				return outcomes[0]
			})
		}
	}
	return errs
}

// lockedConversation is a conversation of a group, read under its row
// lock: its state, where its events are delivered, and what the group
// changes.
type lockedConversation struct {
	tenantID, botID, userID string
	st                      parley.ConversationState
	webhook                 string // "" or disabled: no deliveries
	changed                 bool   // the state is to be written
	advanced                bool   // a message was stored
	newSummary              bool
	summary                 string
}

// writeGroup plans and writes a group in two round trips, three with jobs
// and four with their commit (batchTx): the transaction's BEGIN and the
// conversations' row locks and state, with the messages stored under the
// group's idempotency keys and ids for its events; then, planned in Go
// (parley.PlanAppend and PlanReply, each write from the state the one
// before it left), every message, conversation, reply context, event,
// delivery and the replies' leases given back in one pipeline, with the
// COMMIT when no job follows; then every job in one insert. It returns
// each write's own outcome (a refusal: not found, a conflict); an error
// fails the group.
func (db *DB) writeGroup(ctx context.Context, tx pgx.Tx, ops []*groupOp) ([]error, error) {
	// The conversations in one order: groups committed at once by several
	// replicas take their row locks in that order and cannot deadlock.
	// FOR NO KEY UPDATE locks rows as the sorted rows come out of ORDER BY.
	// NO KEY: the group changes no key of the rows, and a row inserted
	// elsewhere that refers to one (a reply's lease, a memory's event)
	// checks its foreign key without waiting for the group's commit and
	// its flush; writers of the row still take turns.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ops[a].conversationID, ops[b].conversationID) })
	var convIDs, keyConvs, keys []string
	events := 0
	for _, i := range order {
		op := ops[i]
		if len(convIDs) == 0 || convIDs[len(convIDs)-1] != op.conversationID {
			convIDs = append(convIDs, op.conversationID)
		}
		switch {
		case op.reply != nil: // a stored reply is an event
			events++
		case op.nm.FromBot && !op.nm.NoReply: // parley.PlanAppend's Event
			events++
		}
		if op.reply == nil && op.nm.IdempotencyKey != "" {
			keyConvs, keys = append(keyConvs, op.conversationID), append(keys, op.nm.IdempotencyKey)
		}
	}

	var read pgx.Batch
	read.Queue(`SELECT ` + genericPlans)
	convs := map[string]*lockedConversation{}
	read.Queue(`SELECT c.id, c.tenant_id, c.bot_id, c.user_id, c.last_seq, c.last_user_seq, c.answered_seq, c.summary_seq,
		   c.reply_queued, c.memory_queued, c.digest, b.reply, coalesce(nullif(c.webhook, ''), b.webhook),
		   EXISTS (SELECT 1 FROM webhook_disabled d WHERE d.tenant_id = c.tenant_id AND d.url = coalesce(nullif(c.webhook, ''), b.webhook))
		 FROM conversations c JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id
		 WHERE c.id = ANY($1) ORDER BY c.id FOR NO KEY UPDATE OF c`, convIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var disabled bool
			c := &lockedConversation{}
			if err := rows.Scan(&id, &c.tenantID, &c.botID, &c.userID, &c.st.LastSeq, &c.st.LastUserSeq, &c.st.AnsweredSeq,
				&c.st.SummarySeq, &c.st.ReplyQueued, &c.st.MemoryQueued, &c.st.Digest, &c.st.Reply, &c.webhook, &disabled); err != nil {
				return err
			}
			if disabled {
				c.webhook = ""
			}
			convs[id] = c
		}
		return rows.Err()
	})
	prior := map[[2]string]*parley.Idempotent{} // by conversation and key
	if len(keys) > 0 {
		read.Queue(`SELECT `+messageColumns+`, request_hash, idempotency_key, conversation_id FROM messages
			 WHERE (conversation_id, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, keyConvs, keys).
			Query(func(rows pgx.Rows) error {
				var scan pageScan
				for rows.Next() {
					var hash *string
					var key, conv string
					var m parley.Message
					if err := scan.scan(rows, "", &m, &hash, &key, &conv); err != nil {
						return err
					}
					m.ConversationID = conv
					p := &parley.Idempotent{Message: &m}
					if hash != nil {
						p.RequestHash = *hash
					}
					prior[[2]string{conv, key}] = p
				}
				return rows.Err()
			})
	}
	var eventIDs []int64
	if events > 0 {
		read.Queue(`SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, $1)`, events).
			Query(func(rows pgx.Rows) error {
				var err error
				eventIDs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
				return err
			})
	}
	if err := tx.SendBatch(ctx, &read).Close(); err != nil {
		return nil, fmt.Errorf("postgres: lock conversations: %w", err)
	}
	slices.Sort(eventIDs)

	// Each append planned from the state the one before it left.
	now := parley.Now()
	outcomes := make([]error, len(ops))
	var msgs messageRows
	var evs eventRows
	var contexts struct {
		conversationID, context []string
		seq                     []int64
	}
	var jobs []river.InsertManyParams
	// event records a message.created event, its delivery and the
	// delivery's job.
	event := func(c *lockedConversation, m *parley.Message) error {
		if len(eventIDs) == 0 {
			return errors.New("postgres: a group planned more events than it counted") // PlanAppend's Event changed
		}
		delivery, err := evs.add(eventIDs[0], c, m.ConversationID, m, now)
		if err != nil {
			return err
		}
		eventIDs = eventIDs[1:]
		if delivery != nil {
			jobs = append(jobs, river.InsertManyParams{Args: *delivery, InsertOpts: store.DeliveryJobOpts()})
		}
		return nil
	}
	for _, i := range order {
		op := ops[i]
		op.res, op.stored = parley.AppendResult{}, nil // a group run again starts over
		c := convs[op.conversationID]
		if c == nil || c.tenantID != op.tenantID {
			outcomes[i] = parley.Errorf(parley.ENOTFOUND, "conversation %q not found", op.conversationID)
			continue
		}
		if op.reply != nil {
			plan := parley.PlanReply(op.tenantID, op.conversationID, c.st, *op.reply, now)
			c.st, c.changed = c.st.AfterReply(plan), c.changed || plan.Message != nil || plan.Turn.End
			if plan.Turn.Job != nil {
				jobs = append(jobs, river.InsertManyParams{Args: *plan.Turn.Job, InsertOpts: store.ReplyJobOpts()})
			}
			m := plan.Message
			if m == nil {
				continue
			}
			op.stored, c.advanced = m, true
			if plan.NewSummary {
				c.newSummary, c.summary = true, plan.Summary
			}
			if err := msgs.add(op.tenantID, m, m.Metadata, "", "", plan.Digest); err != nil {
				return nil, err
			}
			if len(op.reply.Context) > 0 {
				contexts.conversationID, contexts.seq = append(contexts.conversationID, m.ConversationID), append(contexts.seq, m.Seq)
				contexts.context = append(contexts.context, string(op.reply.Context))
			}
			if err := event(c, m); err != nil {
				return nil, err
			}
			continue
		}
		key := [2]string{op.conversationID, op.nm.IdempotencyKey}
		var earlier *parley.Idempotent
		if op.nm.IdempotencyKey != "" {
			earlier = prior[key]
		}
		plan, err := parley.PlanAppend(op.tenantID, op.conversationID, c.st, op.nm, earlier, now)
		if err != nil || plan.Replayed {
			op.res, outcomes[i] = parley.AppendResult{Message: plan.Message, Replayed: plan.Replayed}, err
			continue
		}
		m := plan.Message
		op.res = parley.AppendResult{Message: m}
		if op.nm.IdempotencyKey != "" {
			prior[key] = &parley.Idempotent{Message: m, RequestHash: op.nm.RequestHash} // a retry in this group replays it
		}
		if err := msgs.add(op.tenantID, m, op.nm.Metadata, op.nm.IdempotencyKey, op.nm.RequestHash, plan.Digest); err != nil {
			return nil, err
		}
		c.st, c.changed, c.advanced = c.st.After(plan), true, true
		if plan.Event {
			if err := event(c, m); err != nil {
				return nil, err
			}
		}
		if plan.Job != nil {
			jobs = append(jobs, river.InsertManyParams{Args: *plan.Job, InsertOpts: store.ReplyJobOpts()})
		}
		if plan.MemoryJob != nil {
			jobs = append(jobs, river.InsertManyParams{Args: *plan.MemoryJob, InsertOpts: store.MemoryJobOpts()})
		}
		if plan.MediaJob != nil {
			jobs = append(jobs, river.InsertManyParams{Args: *plan.MediaJob, InsertOpts: store.MediaJobOpts()})
		}
	}
	var write pgx.Batch
	var leaseConvs []string
	var leaseHolders []uuid.UUID
	for i, op := range ops {
		if op.lease != nil && outcomes[i] == nil {
			leaseConvs, leaseHolders = append(leaseConvs, op.conversationID), append(leaseHolders, op.lease.holder)
		}
	}
	if len(leaseConvs) > 0 { // given back, as giveLeaseSQL gives one back
		write.Queue(`UPDATE reply_leases SET expires_at = '-infinity'
		 WHERE (conversation_id, holder) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))`, leaseConvs, leaseHolders)
	}
	if len(msgs.id) > 0 {
		write.Queue(`INSERT INTO messages (conversation_id, seq, id, tenant_id, from_bot, text, bubbles, media, metadata,
		   idempotency_key, request_hash, created_at, digest)
		 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::jsonb[],
		   $8::jsonb[], $9::json[], $10::text[], $11::text[], $12::timestamptz[], $13::bytea[])`,
			msgs.conversationID, msgs.seq, msgs.id, msgs.tenantID, msgs.fromBot, msgs.text, msgs.bubbles, msgs.media,
			msgs.metadata, msgs.key, msgs.hash, msgs.createdAt, msgs.digest)
	}
	var ids []string
	var last, lastUser, answered []int64
	var summarySeq []int64
	var replyQueued, memoryQueued, advanced, newSummary []bool
	var digests [][]byte
	var summaries []string
	for _, id := range convIDs {
		c := convs[id]
		if c == nil || !c.changed {
			continue
		}
		ids, last, lastUser, answered = append(ids, id), append(last, c.st.LastSeq), append(lastUser, c.st.LastUserSeq), append(answered, c.st.AnsweredSeq)
		summarySeq, newSummary, summaries = append(summarySeq, c.st.SummarySeq), append(newSummary, c.newSummary), append(summaries, c.summary)
		replyQueued, memoryQueued, digests = append(replyQueued, c.st.ReplyQueued), append(memoryQueued, c.st.MemoryQueued), append(digests, c.st.Digest)
		advanced = append(advanced, c.advanced)
	}
	// A write that only ends a reply's turn leaves the times as they were.
	if len(ids) > 0 {
		write.Queue(`UPDATE conversations c SET last_seq = u.last_seq, last_user_seq = u.last_user_seq, answered_seq = u.answered_seq,
		   summary_seq = u.summary_seq, summary = CASE WHEN u.new_summary THEN u.summary ELSE c.summary END,
		   reply_queued = u.reply_queued, memory_queued = u.memory_queued, digest = u.digest,
		   updated_at = CASE WHEN u.advanced THEN $7 ELSE c.updated_at END,
		   last_message_at = CASE WHEN u.advanced THEN $7 ELSE c.last_message_at END
		 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[], $6::boolean[], $8::bytea[],
		   $9::bigint[], $10::boolean[], $11::text[], $12::boolean[])
		   AS u (id, last_seq, last_user_seq, answered_seq, reply_queued, memory_queued, digest, summary_seq, new_summary, summary, advanced)
		 WHERE c.id = u.id`, ids, last, lastUser, answered, replyQueued, memoryQueued, now, digests, summarySeq, newSummary, summaries, advanced)
	}
	if len(contexts.seq) > 0 {
		// As text: see migration 00015.
		write.Queue(`INSERT INTO reply_contexts (conversation_id, seq, context_text) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`,
			contexts.conversationID, contexts.seq, contexts.context)
	}
	if len(evs.id) > 0 {
		write.Queue(`INSERT INTO events (id, tenant_id, conversation_id, type, data, created_at)
			 SELECT id, tenant, conv, $4, data, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $6::jsonb[]) AS e (id, tenant, conv, data)`,
			evs.id, evs.tenantID, evs.conversationID, parley.EventMessageCreated, now, evs.data)
		db.eventsIn(tx, evs.conversationID...) // every replica's live subscribers hear of them after the commit
	}
	if len(evs.delivery) > 0 {
		write.Queue(`INSERT INTO webhook_deliveries (id, tenant_id, conversation_id, event_id, event_type, url, payload, status,
			   created_at, updated_at)
			 SELECT id, tenant, conv, event, $5, url, payload, $7, $8, $8
			 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $6::text[], $9::text[]) AS d (id, tenant, conv, event, url, payload)`,
			evs.delivery, evs.deliveryTenant, evs.deliveryConv, evs.deliveryEvent, parley.EventMessageCreated, evs.deliveryURL,
			parley.DeliveryPending, now, evs.deliveryPayload)
	}
	if write.Len() == 0 {
		return outcomes, nil
	}
	if len(jobs) == 0 {
		commitIn(tx, &write) // nothing follows: the commit goes with the writes
	}
	if err := tx.SendBatch(ctx, &write).Close(); err != nil {
		return nil, fmt.Errorf("postgres: append messages: %w", err)
	}
	if len(jobs) > 0 {
		commitWithQuery(tx) // the jobs' insert is the last statement
		if err := db.enqueueMany(ctx, tx, jobs); err != nil {
			return nil, fmt.Errorf("postgres: enqueue: %w", err)
		}
	}
	return outcomes, nil
}

// messageRows are a group's new messages, column by column (unnest).
type messageRows struct {
	conversationID, id, tenantID, text []string
	seq                                []int64
	fromBot                            []bool
	bubbles, media                     []string
	metadata, key, hash                []*string
	createdAt                          []time.Time
	digest                             [][]byte
}

func (r *messageRows) add(tenantID string, m *parley.Message, meta json.RawMessage, key, hash string, digest []byte) error {
	bubbles, err := json.Marshal(m.Bubbles)
	if err != nil {
		return fmt.Errorf("postgres: encode bubbles: %w", err)
	}
	media, err := json.Marshal(m.AttachedMedia)
	if err != nil {
		return fmt.Errorf("postgres: encode media: %w", err)
	}
	var metadata *string
	if len(meta) > 0 {
		metadata = new(string(meta)) // kept verbatim (json, not jsonb)
	}
	r.conversationID, r.seq, r.id, r.tenantID = append(r.conversationID, m.ConversationID), append(r.seq, m.Seq), append(r.id, m.ID), append(r.tenantID, tenantID)
	r.fromBot, r.text, r.bubbles, r.media = append(r.fromBot, m.FromBot), append(r.text, m.Text), append(r.bubbles, string(bubbles)), append(r.media, string(media))
	r.metadata, r.key, r.hash = append(r.metadata, metadata), append(r.key, nullString(key)), append(r.hash, nullString(hash))
	r.createdAt, r.digest = append(r.createdAt, m.CreatedAt), append(r.digest, digest)
	return nil
}

// eventRows are a group's message.created events and their deliveries.
type eventRows struct {
	id                             []int64
	tenantID, conversationID, data []string
	delivery, deliveryTenant       []string
	deliveryConv, deliveryURL      []string
	deliveryPayload                []string
	deliveryEvent                  []int64
}

// add records m's event under id and, when its conversation has a webhook,
// the delivery, whose job it returns.
func (r *eventRows) add(id int64, c *lockedConversation, conversationID string, m *parley.Message, now time.Time) (*parley.WebhookJob, error) {
	object, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode event: %w", err)
	}
	r.id, r.tenantID, r.conversationID, r.data = append(r.id, id), append(r.tenantID, c.tenantID), append(r.conversationID, conversationID), append(r.data, string(object))
	if c.webhook == "" {
		return nil, nil
	}
	payload, err := parley.WebhookPayload(parley.EventMessageCreated, now,
		parley.WebhookEventData(parley.EventMessageCreated, id, conversationID, c.botID, c.userID, object))
	if err != nil {
		return nil, err
	}
	did := parley.NewDeliveryID()
	r.delivery, r.deliveryTenant, r.deliveryConv = append(r.delivery, did), append(r.deliveryTenant, c.tenantID), append(r.deliveryConv, conversationID)
	r.deliveryURL, r.deliveryPayload, r.deliveryEvent = append(r.deliveryURL, c.webhook), append(r.deliveryPayload, string(payload)), append(r.deliveryEvent, id)
	return &parley.WebhookJob{TenantID: c.tenantID, DeliveryID: did}, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// Channels of LISTEN/NOTIFY: every replica hears of new events and of
// reply deltas, so that live streams follow replies made anywhere.
const (
	eventChannel = "parley_events"
	deltaChannel = "parley_deltas"
)

// insertEvent stores an event and, when the conversation has a webhook
// (its own, else its bot's) that is not disabled, the event's delivery and
// the job that sends it, in the caller's transaction. Every replica hears
// of it once the transaction has committed (eventsIn).
func (db *DB) insertEvent(ctx context.Context, tx pgx.Tx, tenantID, conversationID, typ string, data any, now time.Time) error {
	e, err := newEventInsert(tenantID, conversationID, typ, data, now)
	if err != nil {
		return err
	}
	var b pgx.Batch
	e.queue(&b)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return db.deliver(ctx, tx, e)
}

// eventInsert is an event queued in a batch with the statements around
// it; once the batch has run, it holds the event's id and where the event
// is delivered, and deliver finishes it.
type eventInsert struct {
	tenantID, conversationID, typ string
	object                        []byte
	now                           time.Time

	id                 int64
	botID, userID, url string
	disabled           bool
}

func newEventInsert(tenantID, conversationID, typ string, data any, now time.Time) (*eventInsert, error) {
	object, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode event: %w", err)
	}
	return &eventInsert{tenantID: tenantID, conversationID: conversationID, typ: typ, object: object, now: now}, nil
}

// queue queues the event's insert, which reads where it is delivered in
// the same statement.
func (e *eventInsert) queue(b *pgx.Batch) {
	b.Queue(`WITH e AS (INSERT INTO events (tenant_id, conversation_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id)
		 SELECT e.id, c.bot_id, c.user_id, coalesce(nullif(c.webhook, ''), b.webhook),
		   EXISTS (SELECT 1 FROM webhook_disabled d WHERE d.tenant_id = c.tenant_id
		           AND d.url = coalesce(nullif(c.webhook, ''), b.webhook))
		 FROM e, conversations c JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id WHERE c.id = $2`,
		e.tenantID, e.conversationID, e.typ, e.object, e.now).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&e.id, &e.botID, &e.userID, &e.url, &e.disabled); err != nil {
			return fmt.Errorf("postgres: insert event: %w", err)
		}
		return nil
	})
}

// deliver stores an inserted event's delivery and queues its job, when
// it has a webhook, and has the event heard of after the commit.
func (db *DB) deliver(ctx context.Context, tx pgx.Tx, e *eventInsert) error {
	db.eventsIn(tx, e.conversationID)
	if e.url == "" || e.disabled {
		return nil
	}
	payload, err := parley.WebhookPayload(e.typ, e.now, parley.WebhookEventData(e.typ, e.id, e.conversationID, e.botID, e.userID, e.object))
	if err != nil {
		return err
	}
	id := parley.NewDeliveryID()
	if _, err := tx.Exec(ctx,
		`INSERT INTO webhook_deliveries (id, tenant_id, conversation_id, event_id, event_type, url, payload, status,
		   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		id, e.tenantID, e.conversationID, e.id, e.typ, e.url, string(payload), parley.DeliveryPending, e.now); err != nil {
		return fmt.Errorf("postgres: insert delivery: %w", err)
	}
	if err := db.enqueue(ctx, tx, parley.WebhookJob{TenantID: e.tenantID, DeliveryID: id}, store.DeliveryJobOpts()); err != nil {
		return fmt.Errorf("postgres: enqueue delivery: %w", err)
	}
	return nil
}

// eventsIn records that tx stores events of a conversation: once it has
// committed, every replica's live subscribers are told (notifyEvents).
// Every write transaction is withTx's.
func (db *DB) eventsIn(tx pgx.Tx, conversationIDs ...string) {
	jt := tx.(*jobTx)
	jt.events = append(jt.events, conversationIDs...)
}

// notifyEvents tells every replica's live subscribers that conversations
// have new events, once their transaction has committed: this replica's at
// once, the others' by NOTIFY (each tagged with this replica's id, which
// its own LISTEN skips). The NOTIFY goes out in a transaction of its own
// that does not wait for its WAL flush: PostgreSQL lets one transaction
// that notifies commit at a time, so a NOTIFY inside the events'
// transaction would make every replica's commits, and their flushes, take
// turns. It is sent by one sender per replica (sendEventNotes), which
// never makes the writer wait and sends what committed meanwhile in one
// statement, at most one every noteGap: under load a statement per commit
// group was nearly a round trip per reply. A replica that dies before
// sending leaves the other replicas' streams to find the events at their
// next read (a stream reads the store at least every keep-alive).
func (db *DB) notifyEvents(conversationIDs []string) {
	if db.hub != nil {
		for _, id := range conversationIDs {
			db.hub.Notify(id)
		}
	}
	s := &db.eventNotes
	s.mu.Lock()
	for _, id := range conversationIDs {
		s.pending[id] = true
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// eventNotes are the conversations whose events this replica has yet to
// announce.
type eventNotes struct {
	mu      sync.Mutex
	pending map[string]bool
	kick    chan struct{}
	done    chan struct{}
}

// noteGap is the least time between two of a replica's event NOTIFYs: what
// the other replicas' streams may wait for more than this one's.
const noteGap = 5 * time.Millisecond

// sendEventNotes announces committed events until ctx ends.
func (db *DB) sendEventNotes(ctx context.Context) {
	defer close(db.eventNotes.done)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.eventNotes.kick:
		}
		if wait := noteGap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		db.sendEventNotesOnce(ctx)
	}
}

// sendEventNotesOnce announces what is pending, in one statement.
func (db *DB) sendEventNotesOnce(ctx context.Context) {
	s := &db.eventNotes
	s.mu.Lock()
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	clear(s.pending)
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if _, err := db.pool.Exec(ctx,
		`WITH durability AS (SELECT set_config('synchronous_commit', 'off', true))
		 SELECT pg_notify($1, $3 || ' ' || c) FROM durability, unnest($2::text[]) AS c`, eventChannel, ids, db.replicaID); err != nil && ctx.Err() == nil {
		db.logger.Warn("postgres: notify events", "err", err, "conversations", len(ids)) // streams read the store at their keep-alive
	}
}

// listen relays NOTIFYs to the hub until ctx ends, reconnecting after
// errors. Notifications sent while it was not listening are lost, so once
// it listens again every stream reads the tables: what was missed costs
// only latency.
func (db *DB) listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := db.listenOnce(ctx); err != nil && ctx.Err() == nil {
			db.logger.Warn("postgres: listen", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (db *DB) listenOnce(ctx context.Context) error {
	// A session of its own, straight to PostgreSQL (not through a pooler,
	// which would hand the LISTEN to whichever session it picks).
	conn, err := pgx.ConnectConfig(ctx, db.direct)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+eventChannel+"; LISTEN "+deltaChannel); err != nil {
		return err
	}
	db.hub.NotifyAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case eventChannel:
			// "replica conversation"; a bare conversation id from a
			// replica of an earlier version, during a rolling upgrade.
			from, conversationID, tagged := strings.Cut(n.Payload, " ")
			if !tagged {
				conversationID = n.Payload
			}
			if from != db.replicaID {
				db.hub.Notify(conversationID)
			}
		case deltaChannel:
			db.relayDeltas(n.Payload)
		}
	}
}

// ListEvents returns a conversation's events after an event id, oldest first.
func (db *DB) ListEvents(ctx context.Context, tenantID, conversationID string, afterID int64, limit int) ([]parley.Event, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT id, type, conversation_id, data::text, created_at FROM events
		 WHERE tenant_id = $1 AND conversation_id = $2 AND id > $3 ORDER BY id LIMIT $4`, tenantID, conversationID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Event, error) {
		var e parley.Event
		var data string
		err := row.Scan(&e.ID, &e.Type, &e.ConversationID, &data, &e.CreatedAt)
		e.Data, e.CreatedAt = json.RawMessage(data), e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan events: %w", err)
	}
	return out, nil
}

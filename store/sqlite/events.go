package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
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

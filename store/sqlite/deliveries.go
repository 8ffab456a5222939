package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

const deliveryColumns = `id, conversation_id, event_id, event_type, url, status, attempts, last_error, payload,
	created_at, updated_at, delivered_at`

func scanDelivery(row interface{ Scan(...any) error }) (*parley.Delivery, error) {
	var d parley.Delivery
	var payload string
	var created, updated int64
	var delivered sql.NullInt64
	if err := row.Scan(&d.ID, &d.ConversationID, &d.EventID, &d.EventType, &d.URL, &d.Status, &d.Attempts, &d.LastError,
		&payload, &created, &updated, &delivered); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	d.CreatedAt, d.UpdatedAt, d.DeliveredAt = fromMicros(created), fromMicros(updated), fromNullMicros(delivered)
	d.AttemptLog = []parley.DeliveryAttempt{}
	return &d, nil
}

// secrets returns the tenant's signing secrets, newest first, creating the
// first one when the tenant has none.
func (db *DB) secrets(ctx context.Context, tenantID string) ([]parley.WebhookSecret, error) {
	list, err := db.WebhookSecrets(ctx, tenantID)
	if err != nil || len(list) > 0 {
		return list, err
	}
	if err := db.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_secrets (id, tenant_id, secret, created_at)
			 SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM webhook_secrets WHERE tenant_id = ?)`,
			parley.NewID(), tenantID, parley.NewWebhookSecret(), micros(parley.Now()), tenantID)
		return err
	}); err != nil {
		return nil, fmt.Errorf("sqlite: create webhook secret: %w", err)
	}
	return db.WebhookSecrets(ctx, tenantID)
}

// WebhookSecrets lists a tenant's secrets that still sign, newest first.
func (db *DB) WebhookSecrets(ctx context.Context, tenantID string) ([]parley.WebhookSecret, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, secret, created_at, expires_at FROM webhook_secrets
		 WHERE tenant_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`,
		tenantID, micros(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook secrets: %w", err)
	}
	defer rows.Close()
	out := []parley.WebhookSecret{}
	for rows.Next() {
		var s parley.WebhookSecret
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&s.ID, &s.Secret, &created, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: scan webhook secret: %w", err)
		}
		s.CreatedAt, s.ExpiresAt = fromMicros(created), fromNullMicros(expires)
		out = append(out, s)
	}
	return out, rows.Err()
}

// RotateWebhookSecret makes secret (a new random one when empty) the
// current secret; the secrets current until now keep signing for overlap.
func (db *DB) RotateWebhookSecret(ctx context.Context, tenantID, secret string, overlap time.Duration) (*parley.WebhookSecret, error) {
	secret, err := parley.RotationSecret(secret)
	if err != nil {
		return nil, err
	}
	now := parley.Now()
	s := &parley.WebhookSecret{ID: parley.NewID(), Secret: secret, CreatedAt: now}
	err = db.withTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE webhook_secrets SET expires_at = ? WHERE tenant_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
			micros(now.Add(overlap)), tenantID, micros(now.Add(overlap))); err != nil {
			return fmt.Errorf("sqlite: expire webhook secrets: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_secrets (id, tenant_id, secret, created_at) VALUES (?, ?, ?, ?)`,
			s.ID, tenantID, s.Secret, micros(now)); err != nil {
			return fmt.Errorf("sqlite: insert webhook secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DeliveryForSend reads what one attempt of a delivery sends.
func (db *DB) DeliveryForSend(ctx context.Context, tenantID, deliveryID string) (*parley.Outgoing, error) {
	d, err := scanDelivery(db.read.QueryRowContext(ctx,
		`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE tenant_id = ? AND id = ?`, tenantID, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read delivery: %w", err)
	}
	out := &parley.Outgoing{Delivery: *d}
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_disabled WHERE tenant_id = ? AND url = ?)`,
		tenantID, d.URL).Scan(&out.Disabled); err != nil {
		return nil, fmt.Errorf("sqlite: read disabled endpoints: %w", err)
	}
	secrets, err := db.secrets(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		out.Secrets = append(out.Secrets, s.Secret)
	}
	return out, nil
}

// RecordAttempt logs an attempt and sets the delivery's status. It is
// redoable: lost to a power cut, it goes with the job's completion
// committed after it, and the job delivers again under the same
// webhook-id, as at-least-once delivery allows.
func (db *DB) RecordAttempt(ctx context.Context, tenantID, deliveryID string, a parley.DeliveryAttempt, status string, disable bool) error {
	return db.inGroup(ctx, redoable, func(ctx context.Context, tx *Tx) error {
		now := micros(parley.Now())
		var url string
		err := tx.QueryRowContext(ctx,
			`UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, last_error = ?, updated_at = ?,
			   delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
			 WHERE tenant_id = ? AND id = ? RETURNING url`,
			status, a.Error, now, status, now, tenantID, deliveryID).Scan(&url)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update delivery: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_us, error, created_at)
			 VALUES (?, (SELECT coalesce(max(attempt), 0) + 1 FROM webhook_attempts WHERE delivery_id = ?), ?, ?, ?, ?)`,
			deliveryID, deliveryID, a.StatusCode, int64(a.LatencyMS*1000), a.Error, now); err != nil {
			return fmt.Errorf("sqlite: insert attempt: %w", err)
		}
		if disable {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO webhook_disabled (tenant_id, url, disabled_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				tenantID, url, now); err != nil {
				return fmt.Errorf("sqlite: disable endpoint: %w", err)
			}
		}
		return nil
	})
}

// ListDeliveries lists a tenant's deliveries, newest first, with attempts.
func (db *DB) ListDeliveries(ctx context.Context, tenantID string, f parley.DeliveryFilter) ([]parley.Delivery, error) {
	where := []string{"tenant_id = ?"}
	args := []any{tenantID}
	if f.ConversationID != "" {
		where, args = append(where, "conversation_id = ?"), append(args, f.ConversationID)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.BeforeID != "" {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	args = append(args, f.Limit)
	rows, err := db.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	var out []parley.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: scan delivery: %w", err)
		}
		out = append(out, *d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].AttemptLog, err = db.attempts(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) attempts(ctx context.Context, deliveryID string) ([]parley.DeliveryAttempt, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT attempt, status_code, latency_us, error, created_at FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt`,
		deliveryID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list attempts: %w", err)
	}
	defer rows.Close()
	out := []parley.DeliveryAttempt{}
	for rows.Next() {
		var a parley.DeliveryAttempt
		var latency, created int64
		if err := rows.Scan(&a.Attempt, &a.StatusCode, &latency, &a.Error, &created); err != nil {
			return nil, fmt.Errorf("sqlite: scan attempt: %w", err)
		}
		a.LatencyMS, a.CreatedAt = float64(latency)/1000, fromMicros(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReplayDelivery sends a delivery again, under the same webhook-id, as a
// new series of attempts. A replay also re-enables its endpoint.
func (db *DB) ReplayDelivery(ctx context.Context, tenantID, deliveryID string) (*parley.Delivery, error) {
	var out *parley.Delivery
	err := db.withTx(ctx, func(tx *Tx) error {
		d, err := scanDelivery(tx.QueryRowContext(ctx,
			`UPDATE webhook_deliveries SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ? RETURNING `+deliveryColumns,
			parley.DeliveryPending, micros(parley.Now()), tenantID, deliveryID))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: replay delivery: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_disabled WHERE tenant_id = ? AND url = ?`, tenantID, d.URL); err != nil {
			return fmt.Errorf("sqlite: re-enable endpoint: %w", err)
		}
		tx.enqueue(parley.WebhookJob{TenantID: tenantID, DeliveryID: deliveryID}, store.DeliveryJobOpts())
		out = d
		return nil
	})
	return out, err
}

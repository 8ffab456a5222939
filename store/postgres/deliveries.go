package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

const deliveryColumns = `id, conversation_id, event_id, event_type, url, status, attempts, last_error, payload,
	created_at, updated_at, delivered_at`

func scanDelivery(row pgx.Row) (*parley.Delivery, error) {
	var d parley.Delivery
	var payload string
	if err := row.Scan(&d.ID, &d.ConversationID, &d.EventID, &d.EventType, &d.URL, &d.Status, &d.Attempts, &d.LastError,
		&payload, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if d.DeliveredAt != nil {
		t := d.DeliveredAt.UTC()
		d.DeliveredAt = &t
	}
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
	// The advisory lock keeps two replicas from creating two first secrets.
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("secret:"+tenantID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO webhook_secrets (id, tenant_id, secret, created_at)
			 SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM webhook_secrets WHERE tenant_id = $2)`,
			parley.NewID(), tenantID, parley.NewWebhookSecret(), parley.Now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: create webhook secret: %w", err)
	}
	return db.WebhookSecrets(ctx, tenantID)
}

// WebhookSecrets lists a tenant's secrets that still sign, newest first.
func (db *DB) WebhookSecrets(ctx context.Context, tenantID string) ([]parley.WebhookSecret, error) {
	rows, err := db.pool.Query(ctx, secretsSQL, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhook secrets: %w", err)
	}
	return collectSecrets(rows)
}

const secretsSQL = `SELECT id, secret, created_at, expires_at FROM webhook_secrets
	WHERE tenant_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC, id DESC`

func collectSecrets(rows pgx.Rows) ([]parley.WebhookSecret, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.WebhookSecret, error) {
		var s parley.WebhookSecret
		err := row.Scan(&s.ID, &s.Secret, &s.CreatedAt, &s.ExpiresAt)
		s.CreatedAt = s.CreatedAt.UTC()
		if s.ExpiresAt != nil {
			t := s.ExpiresAt.UTC()
			s.ExpiresAt = &t
		}
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan webhook secrets: %w", err)
	}
	if out == nil {
		out = []parley.WebhookSecret{}
	}
	return out, nil
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
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`UPDATE webhook_secrets SET expires_at = $2 WHERE tenant_id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
			tenantID, now.Add(overlap)); err != nil {
			return fmt.Errorf("postgres: expire webhook secrets: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (id, tenant_id, secret, created_at) VALUES ($1, $2, $3, $4)`,
			s.ID, tenantID, s.Secret, now); err != nil {
			return fmt.Errorf("postgres: insert webhook secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DeliveryForSend reads what one attempt of a delivery sends: the
// delivery, whether its endpoint is disabled, and the tenant's secrets, in
// one round trip (and one snapshot).
func (db *DB) DeliveryForSend(ctx context.Context, tenantID, deliveryID string) (*parley.Outgoing, error) {
	var d *parley.Delivery
	var disabled bool
	var secrets []parley.WebhookSecret
	var b pgx.Batch
	b.Queue(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2`,
		tenantID, deliveryID).QueryRow(func(row pgx.Row) (err error) {
		d, err = scanDelivery(row)
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM webhook_disabled w JOIN webhook_deliveries d ON d.tenant_id = w.tenant_id AND d.url = w.url
		 WHERE d.tenant_id = $1 AND d.id = $2)`, tenantID, deliveryID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&disabled)
	})
	b.Queue(secretsSQL, tenantID).Query(func(rows pgx.Rows) (err error) {
		secrets, err = collectSecrets(rows)
		return err
	})
	err := db.pool.SendBatch(ctx, &b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read delivery: %w", err)
	}
	if len(secrets) == 0 { // the tenant's first: made now
		if secrets, err = db.secrets(ctx, tenantID); err != nil {
			return nil, err
		}
	}
	out := &parley.Outgoing{Delivery: *d, Disabled: disabled}
	for _, s := range secrets {
		out.Secrets = append(out.Secrets, s.Secret)
	}
	return out, nil
}

// RecordAttempt logs an attempt and sets the delivery's status, in one
// round trip: the attempt's log and the endpoint's disabling read the
// delivery's row themselves, and store nothing when there is none.
func (db *DB) RecordAttempt(ctx context.Context, tenantID, deliveryID string, a parley.DeliveryAttempt, status string, disable bool) error {
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		now := parley.Now()
		var b pgx.Batch
		b.Queue(`UPDATE webhook_deliveries SET attempts = attempts + 1, status = $3, last_error = $4, updated_at = $5,
			   delivered_at = CASE WHEN $3 = 'delivered' THEN $5 ELSE delivered_at END
			 WHERE tenant_id = $1 AND id = $2`, tenantID, deliveryID, status, a.Error, now).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
			}
			return nil
		})
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_us, error, created_at)
			 SELECT d.id, (SELECT coalesce(max(attempt), 0) + 1 FROM webhook_attempts WHERE delivery_id = d.id), $3, $4, $5, $6
			 FROM webhook_deliveries d WHERE d.tenant_id = $1 AND d.id = $2`,
			tenantID, deliveryID, a.StatusCode, int64(a.LatencyMS*1000), a.Error, now)
		if disable {
			b.Queue(`INSERT INTO webhook_disabled (tenant_id, url, disabled_at)
				 SELECT tenant_id, url, $3 FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2 ON CONFLICT DO NOTHING`,
				tenantID, deliveryID, now)
		}
		commitIn(tx, &b)
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
		return fmt.Errorf("postgres: record attempt: %w", err)
	}
	return err
}

// ListDeliveries lists a tenant's deliveries, newest first, with attempts.
func (db *DB) ListDeliveries(ctx context.Context, tenantID string, f parley.DeliveryFilter) ([]parley.Delivery, error) {
	where := []string{"tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.ConversationID != "" {
		add("conversation_id = ?", f.ConversationID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.BeforeID != "" {
		add("id < ?", f.BeforeID)
	}
	args = append(args, f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Delivery, error) {
		d, err := scanDelivery(row)
		if err != nil {
			return parley.Delivery{}, err
		}
		return *d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan deliveries: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]string, len(out))
	index := map[string]int{}
	for i, d := range out {
		ids[i], index[d.ID] = d.ID, i
	}
	arows, err := db.pool.Query(ctx,
		`SELECT delivery_id, attempt, status_code, latency_us, error, created_at FROM webhook_attempts
		 WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: list attempts: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var id string
		var a parley.DeliveryAttempt
		var latency int64
		if err := arows.Scan(&id, &a.Attempt, &a.StatusCode, &latency, &a.Error, &a.CreatedAt); err != nil {
			return nil, fmt.Errorf("postgres: scan attempt: %w", err)
		}
		a.LatencyMS, a.CreatedAt = float64(latency)/1000, a.CreatedAt.UTC()
		out[index[id]].AttemptLog = append(out[index[id]].AttemptLog, a)
	}
	return out, arows.Err()
}

// ReplayDelivery sends a delivery again, under the same webhook-id, as a
// new series of attempts. A replay also re-enables its endpoint.
func (db *DB) ReplayDelivery(ctx context.Context, tenantID, deliveryID string) (*parley.Delivery, error) {
	var out *parley.Delivery
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		d, err := scanDelivery(tx.QueryRow(ctx,
			`UPDATE webhook_deliveries SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2 RETURNING `+deliveryColumns,
			tenantID, deliveryID, parley.DeliveryPending, parley.Now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "delivery %q not found", deliveryID)
		}
		if err != nil {
			return fmt.Errorf("postgres: replay delivery: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_disabled WHERE tenant_id = $1 AND url = $2`, tenantID, d.URL); err != nil {
			return fmt.Errorf("postgres: re-enable endpoint: %w", err)
		}
		if err := db.enqueue(ctx, tx, parley.WebhookJob{TenantID: tenantID, DeliveryID: deliveryID}, store.DeliveryJobOpts()); err != nil {
			return fmt.Errorf("postgres: enqueue replay: %w", err)
		}
		out = d
		return nil
	})
	return out, err
}

// lockKey maps a name to an advisory lock key. A collision only serialises
// two tenants' secret rotations.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("parley:" + name))
	return int64(h.Sum64())
}

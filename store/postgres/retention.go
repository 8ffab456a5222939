package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
)

// SetRetention sets or removes a bot's retention.
func (db *DB) SetRetention(ctx context.Context, tenantID, botID string, days int) error {
	var found bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bots WHERE tenant_id = $1 AND id = $2)`, tenantID, botID).Scan(&found); err != nil {
		return fmt.Errorf("postgres: read bot: %w", err)
	}
	if !found {
		return parley.Errorf(parley.ENOTFOUND, "bot %q not found", botID)
	}
	var err error
	if days <= 0 {
		_, err = db.pool.Exec(ctx, `DELETE FROM bot_retention WHERE tenant_id = $1 AND bot_id = $2`, tenantID, botID)
	} else {
		_, err = db.pool.Exec(ctx, `INSERT INTO bot_retention (tenant_id, bot_id, days) VALUES ($1, $2, $3)
		   ON CONFLICT (tenant_id, bot_id) DO UPDATE SET days = excluded.days`, tenantID, botID, days)
	}
	if isForeignKeyViolation(err) { // the bot went meanwhile
		return parley.Errorf(parley.ENOTFOUND, "bot %q not found", botID)
	}
	if err != nil {
		return fmt.Errorf("postgres: set retention: %w", err)
	}
	return nil
}

// ListRetention lists a tenant's retention rules.
func (db *DB) ListRetention(ctx context.Context, tenantID string) ([]parley.Retention, error) {
	rows, err := db.pool.Query(ctx, `SELECT bot_id, days FROM bot_retention WHERE tenant_id = $1 ORDER BY bot_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list retention: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Retention, error) {
		var r parley.Retention
		err := row.Scan(&r.BotID, &r.Days)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list retention: %w", err)
	}
	return out, nil
}

// DeleteExpired deletes conversations past their bot's retention, in one
// statement: the media they kept are read before the delete cascades.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) ([]parley.Expired, error) {
	var out []parley.Expired
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		out = nil
		// Data-modifying CTEs see the rows as they were: media is read
		// before the delete cascades to it.
		rows, err := tx.Query(ctx, `WITH gone AS (
		     SELECT c.id FROM conversations c JOIN bot_retention r ON r.tenant_id = c.tenant_id AND r.bot_id = c.bot_id
		     WHERE coalesce(c.last_message_at, c.created_at) < $1::timestamptz - make_interval(days => r.days) LIMIT $2 FOR UPDATE OF c),
		   media AS (SELECT DISTINCT c.tenant_id, c.bot_id, mm.sha256 FROM message_media mm
		     JOIN conversations c ON c.id = mm.conversation_id WHERE mm.conversation_id IN (SELECT id FROM gone)),
		   deleted AS (DELETE FROM conversations c USING gone WHERE c.id = gone.id RETURNING c.tenant_id, c.bot_id, c.last_seq),
		   counts AS (SELECT tenant_id, bot_id, count(*) AS n, sum(last_seq)::bigint AS msgs FROM deleted GROUP BY tenant_id, bot_id)
		 SELECT k.tenant_id, k.bot_id, k.n, k.msgs, coalesce((SELECT array_agg(m.sha256) FROM media m
		   WHERE m.tenant_id = k.tenant_id AND m.bot_id = k.bot_id), '{}') FROM counts k`, now, limit)
		if err != nil {
			return fmt.Errorf("postgres: delete expired: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Expired, error) {
			var e parley.Expired
			err := row.Scan(&e.TenantID, &e.BotID, &e.Conversations, &e.Messages, &e.MediaSHA256)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("postgres: delete expired: %w", err)
		}
		return nil
	})
	return out, err
}

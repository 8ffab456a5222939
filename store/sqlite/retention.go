package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley"
)

// SetRetention sets or removes a bot's retention.
func (db *DB) SetRetention(ctx context.Context, tenantID, botID string, days int) error {
	return db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM bots WHERE tenant_id = ? AND id = ?`, tenantID, botID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "bot %q not found", botID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read bot: %w", err)
		}
		if days <= 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM bot_retention WHERE tenant_id = ? AND bot_id = ?`, tenantID, botID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO bot_retention (tenant_id, bot_id, days) VALUES (?, ?, ?)
			   ON CONFLICT (tenant_id, bot_id) DO UPDATE SET days = excluded.days`, tenantID, botID, days)
		}
		if err != nil {
			return fmt.Errorf("sqlite: set retention: %w", err)
		}
		return nil
	})
}

// ListRetention lists a tenant's retention rules.
func (db *DB) ListRetention(ctx context.Context, tenantID string) ([]parley.Retention, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT bot_id, days FROM bot_retention WHERE tenant_id = ? ORDER BY bot_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list retention: %w", err)
	}
	defer rows.Close()
	out := []parley.Retention{}
	for rows.Next() {
		var r parley.Retention
		if err := rows.Scan(&r.BotID, &r.Days); err != nil {
			return nil, fmt.Errorf("sqlite: scan retention: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteExpired deletes conversations past their bot's retention.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) ([]parley.Expired, error) {
	var out []parley.Expired
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT c.tenant_id, c.bot_id, c.id, c.last_seq FROM conversations c
		   JOIN bot_retention r ON r.tenant_id = c.tenant_id AND r.bot_id = c.bot_id
		   WHERE coalesce(c.last_message_at, c.created_at) < ? - r.days * 86400000000 LIMIT ?`, micros(now), limit)
		if err != nil {
			return fmt.Errorf("sqlite: find expired: %w", err)
		}
		byBot := map[[2]string]*parley.Expired{}
		var ids []any
		for rows.Next() {
			var tenantID, botID, id string
			var messages int64
			if err := rows.Scan(&tenantID, &botID, &id, &messages); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: scan expired: %w", err)
			}
			e := byBot[[2]string{tenantID, botID}]
			if e == nil {
				e = &parley.Expired{TenantID: tenantID, BotID: botID}
				byBot[[2]string{tenantID, botID}] = e
			}
			e.Conversations++
			e.Messages += messages
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: find expired: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		in := "id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		media, err := tx.QueryContext(ctx, `SELECT DISTINCT c.tenant_id, c.bot_id, mm.sha256 FROM message_media mm
		   JOIN conversations c ON c.id = mm.conversation_id WHERE c.`+in, ids...)
		if err != nil {
			return fmt.Errorf("sqlite: expired media: %w", err)
		}
		for media.Next() {
			var tenantID, botID, sum string
			if err := media.Scan(&tenantID, &botID, &sum); err != nil {
				media.Close()
				return fmt.Errorf("sqlite: expired media: %w", err)
			}
			e := byBot[[2]string{tenantID, botID}]
			e.MediaSHA256 = append(e.MediaSHA256, sum)
		}
		media.Close()
		if err := unindexConversations(ctx, tx, in, ids...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE `+in, ids...); err != nil {
			return fmt.Errorf("sqlite: delete expired: %w", err)
		}
		for _, e := range byBot {
			out = append(out, *e)
		}
		return nil
	})
	return out, err
}

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/parley-chat/parley"
)

// RecordAudit adds an audit entry.
func (db *DB) RecordAudit(ctx context.Context, tenantID string, e parley.AuditEntry) (*parley.AuditEntry, error) {
	e.ID, e.CreatedAt = parley.NewID(), parley.Now()
	if e.Counts == nil {
		e.Counts = map[string]int64{}
	}
	counts, err := json.Marshal(e.Counts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode counts: %w", err)
	}
	err = db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, tenant_id, action, subject, token_id, counts, created_at)
		   VALUES (?, ?, ?, ?, ?, ?, ?)`, e.ID, tenantID, e.Action, e.Subject, e.TokenID, string(counts), micros(e.CreatedAt))
		if err != nil {
			return fmt.Errorf("sqlite: record audit: %w", err)
		}
		return nil
	})
	return &e, err
}

// ListAudit lists a tenant's audit entries, newest first.
func (db *DB) ListAudit(ctx context.Context, tenantID, beforeID string, limit int) ([]parley.AuditEntry, error) {
	if beforeID == "" {
		beforeID = "\U0010FFFF"
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, action, subject, token_id, counts, created_at FROM audit_log
	   WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, tenantID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	out := []parley.AuditEntry{}
	for rows.Next() {
		var e parley.AuditEntry
		var counts string
		var created int64
		if err := rows.Scan(&e.ID, &e.Action, &e.Subject, &e.TokenID, &counts, &created); err != nil {
			return nil, fmt.Errorf("sqlite: scan audit: %w", err)
		}
		if err := json.Unmarshal([]byte(counts), &e.Counts); err != nil {
			return nil, fmt.Errorf("sqlite: decode counts: %w", err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

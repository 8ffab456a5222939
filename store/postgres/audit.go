package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
)

// RecordAudit adds an audit entry.
func (db *DB) RecordAudit(ctx context.Context, tenantID string, e parley.AuditEntry) (*parley.AuditEntry, error) {
	e.ID, e.CreatedAt = parley.NewID(), parley.Now()
	if e.Counts == nil {
		e.Counts = map[string]int64{}
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO audit_log (id, tenant_id, action, subject, token_id, counts, created_at)
	   VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, tenantID, e.Action, e.Subject, e.TokenID, e.Counts, e.CreatedAt); err != nil {
		return nil, fmt.Errorf("postgres: record audit: %w", err)
	}
	return &e, nil
}

// ListAudit lists a tenant's audit entries, newest first.
func (db *DB) ListAudit(ctx context.Context, tenantID, beforeID string, limit int) ([]parley.AuditEntry, error) {
	if beforeID == "" {
		beforeID = "\U0010FFFF"
	}
	rows, err := db.pool.Query(ctx, `SELECT id, action, subject, token_id, counts, created_at FROM audit_log
	   WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, tenantID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.AuditEntry, error) {
		var e parley.AuditEntry
		err := row.Scan(&e.ID, &e.Action, &e.Subject, &e.TokenID, &e.Counts, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}

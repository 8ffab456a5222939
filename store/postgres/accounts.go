package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
)

// EnsureTenant returns the tenant with that name, creating it when new.
func (db *DB) EnsureTenant(ctx context.Context, name string) (*parley.Tenant, error) {
	var t parley.Tenant
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
			parley.NewID(), name, parley.Now()); err != nil {
			return fmt.Errorf("postgres: insert tenant: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE name = $1`, name).
			Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
			return fmt.Errorf("postgres: read tenant: %w", err)
		}
		t.CreatedAt = t.CreatedAt.UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateToken stores a token's hash for a tenant. When the hash is already
// stored (a bootstrap token on restart), it returns the existing token.
func (db *DB) CreateToken(ctx context.Context, tenantID, name string, admin bool, hash []byte) (*parley.Token, error) {
	tok := parley.Token{ID: parley.NewID(), TenantID: tenantID, Name: name, Admin: admin, CreatedAt: parley.Now()}
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO tokens (id, tenant_id, hash, name, admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			 ON CONFLICT (hash) DO NOTHING`,
			tok.ID, tenantID, hash, name, admin, tok.CreatedAt)
		if isForeignKeyViolation(err) {
			return parley.Errorf(parley.ENOTFOUND, "tenant %q not found", tenantID)
		}
		if err != nil {
			return fmt.Errorf("postgres: insert token: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT id, tenant_id, name, admin, created_at FROM tokens WHERE hash = $1`, hash).
			Scan(&tok.ID, &tok.TenantID, &tok.Name, &tok.Admin, &tok.CreatedAt); err != nil {
			return fmt.Errorf("postgres: read token: %w", err)
		}
		tok.CreatedAt = tok.CreatedAt.UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &tok, nil
}

// Authenticate finds the principal of a token hash.
func (db *DB) Authenticate(ctx context.Context, hash []byte) (*parley.Principal, error) {
	var p parley.Principal
	err := db.pool.QueryRow(ctx, `SELECT tenant_id, id, admin FROM tokens WHERE hash = $1`, hash).
		Scan(&p.TenantID, &p.TokenID, &p.Admin)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.EUNAUTHORIZED, "unknown token")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: authenticate: %w", err)
	}
	return &p, nil
}

// ListTokens lists a tenant's tokens (never their secrets).
func (db *DB) ListTokens(ctx context.Context, tenantID string) ([]parley.Token, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT id, tenant_id, name, admin, created_at FROM tokens WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Token, error) {
		var t parley.Token
		err := row.Scan(&t.ID, &t.TenantID, &t.Name, &t.Admin, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan tokens: %w", err)
	}
	return out, nil
}

// DeleteToken revokes a token of a tenant.
func (db *DB) DeleteToken(ctx context.Context, tenantID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM tokens WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("postgres: delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "token %q not found", id)
	}
	return nil
}

const botColumns = `id, name, persona, language, webhook, model, reply, created_at, updated_at, model_key`

func scanBot(row pgx.Row) (*parley.Bot, error) {
	var b parley.Bot
	if err := row.Scan(&b.ID, &b.Name, &b.Persona, &b.Language, &b.Webhook, &b.Model, &b.Reply, &b.CreatedAt, &b.UpdatedAt, &b.ModelKey); err != nil {
		return nil, err
	}
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	return &b, nil
}

// CreateBot stores a new bot; an existing id is a conflict.
func (db *DB) CreateBot(ctx context.Context, tenantID string, b *parley.Bot) (*parley.Bot, error) {
	now := parley.Now()
	out, err := scanBot(db.pool.QueryRow(ctx,
		`INSERT INTO bots (tenant_id, id, name, persona, language, webhook, model, reply, created_at, updated_at, model_key)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING `+botColumns,
		tenantID, b.ID, b.Name, b.Persona, b.Language, b.Webhook, b.Model, b.Reply, now, b.ModelKey))
	if isUniqueViolation(err) {
		return nil, parley.FieldError(parley.ECONFLICT, "body.id", "bot %q already exists", b.ID)
	}
	if isForeignKeyViolation(err) {
		return nil, parley.Errorf(parley.ENOTFOUND, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: insert bot: %w", err)
	}
	return out, nil
}

// GetBot returns one bot of a tenant.
func (db *DB) GetBot(ctx context.Context, tenantID, id string) (*parley.Bot, error) {
	b, err := scanBot(db.pool.QueryRow(ctx,
		`SELECT `+botColumns+` FROM bots WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "bot %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get bot: %w", err)
	}
	return b, nil
}

// ListBots lists a tenant's bots by id, after the given id.
func (db *DB) ListBots(ctx context.Context, tenantID, afterID string, limit int) ([]parley.Bot, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT `+botColumns+` FROM bots WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list bots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Bot, error) {
		b, err := scanBot(row)
		if err != nil {
			return parley.Bot{}, err
		}
		return *b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan bots: %w", err)
	}
	return out, nil
}

// UpdateBot applies a patch to a bot.
func (db *DB) UpdateBot(ctx context.Context, tenantID, id string, p parley.BotPatch) (*parley.Bot, error) {
	var out *parley.Bot
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		b, err := scanBot(tx.QueryRow(ctx,
			`SELECT `+botColumns+` FROM bots WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "bot %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: read bot: %w", err)
		}
		p.Apply(b)
		out, err = scanBot(tx.QueryRow(ctx,
			`UPDATE bots SET name = $3, persona = $4, language = $5, webhook = $6, model = $7, reply = $8, updated_at = $9,
			   model_key = $10
			 WHERE tenant_id = $1 AND id = $2 RETURNING `+botColumns,
			tenantID, id, b.Name, b.Persona, b.Language, b.Webhook, b.Model, b.Reply, parley.Now(), b.ModelKey))
		if err != nil {
			return fmt.Errorf("postgres: update bot: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteBot deletes a bot with its conversations and their messages.
func (db *DB) DeleteBot(ctx context.Context, tenantID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM bots WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("postgres: delete bot: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "bot %q not found", id)
	}
	return nil
}

const userColumns = `id, platform, language, kv, created_at, updated_at`

func scanUser(row pgx.Row) (*parley.User, error) {
	var u parley.User
	if err := row.Scan(&u.ID, &u.Platform, &u.Language, &u.KV, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, err
	}
	if u.KV == nil {
		u.KV = map[string]any{}
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// GetUser returns one user of a tenant.
func (db *DB) GetUser(ctx context.Context, tenantID, id string) (*parley.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get user: %w", err)
	}
	return u, nil
}

// PutUser creates a user or replaces all of its fields.
func (db *DB) PutUser(ctx context.Context, tenantID string, u *parley.User) (*parley.User, bool, error) {
	kv := u.KV
	if kv == nil {
		kv = map[string]any{}
	}
	var created bool
	var out parley.User
	// xmax = 0 only on a freshly inserted row: it tells insert from update
	// in the same statement.
	err := db.pool.QueryRow(ctx,
		`INSERT INTO users (tenant_id, id, platform, language, kv, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $6)
		 ON CONFLICT (tenant_id, id) DO UPDATE SET platform = excluded.platform,
		   language = excluded.language, kv = excluded.kv, updated_at = excluded.updated_at
		 RETURNING `+userColumns+`, xmax = 0`,
		tenantID, u.ID, u.Platform, u.Language, kv, parley.Now()).
		Scan(&out.ID, &out.Platform, &out.Language, &out.KV, &out.CreatedAt, &out.UpdatedAt, &created)
	if isForeignKeyViolation(err) {
		return nil, false, parley.Errorf(parley.ENOTFOUND, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres: put user: %w", err)
	}
	out.CreatedAt, out.UpdatedAt = out.CreatedAt.UTC(), out.UpdatedAt.UTC()
	return &out, created, nil
}

// PatchUser changes some fields of a user; KV entries merge (see MergeKV).
func (db *DB) PatchUser(ctx context.Context, tenantID, id string, p parley.UserPatch) (*parley.User, error) {
	var out *parley.User
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx,
			`SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "user %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: read user: %w", err)
		}
		if err := p.Apply(u); err != nil {
			return err
		}
		out, err = scanUser(tx.QueryRow(ctx,
			`UPDATE users SET platform = $3, language = $4, kv = $5, updated_at = $6
			 WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns,
			tenantID, id, u.Platform, u.Language, u.KV, parley.Now()))
		if err != nil {
			return fmt.Errorf("postgres: update user: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteUser erases a user with all of their conversations and messages.
func (db *DB) DeleteUser(ctx context.Context, tenantID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("postgres: delete user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "user %q not found", id)
	}
	return nil
}

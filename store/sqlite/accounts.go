package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-chat/parley"
)

// EnsureTenant returns the tenant with that name, creating it when new.
func (db *DB) EnsureTenant(ctx context.Context, name string) (*parley.Tenant, error) {
	var t parley.Tenant
	err := db.withTx(ctx, func(tx *Tx) error {
		now := parley.Now()
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			parley.NewID(), name, micros(now)); err != nil {
			return fmt.Errorf("sqlite: insert tenant: %w", err)
		}
		var created int64
		if err := tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE name = ?`, name).
			Scan(&t.ID, &t.Name, &created); err != nil {
			return fmt.Errorf("sqlite: read tenant: %w", err)
		}
		t.CreatedAt = fromMicros(created)
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
	err := db.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tokens (id, tenant_id, hash, name, admin, created_at) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (hash) DO NOTHING`,
			tok.ID, tenantID, hash, name, admin, micros(tok.CreatedAt))
		if isForeignKeyViolation(err) {
			return parley.Errorf(parley.ENOTFOUND, "tenant %q not found", tenantID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: insert token: %w", err)
		}
		var created int64
		if err := tx.QueryRowContext(ctx,
			`SELECT id, tenant_id, name, admin, created_at FROM tokens WHERE hash = ?`, hash).
			Scan(&tok.ID, &tok.TenantID, &tok.Name, &tok.Admin, &created); err != nil {
			return fmt.Errorf("sqlite: read token: %w", err)
		}
		tok.CreatedAt = fromMicros(created)
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
	err := db.read.QueryRowContext(ctx, `SELECT tenant_id, id, admin FROM tokens WHERE hash = ?`, hash).
		Scan(&p.TenantID, &p.TokenID, &p.Admin)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.EUNAUTHORIZED, "unknown token")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: authenticate: %w", err)
	}
	return &p, nil
}

// ListTokens lists a tenant's tokens (never their secrets).
func (db *DB) ListTokens(ctx context.Context, tenantID string) ([]parley.Token, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, tenant_id, name, admin, created_at FROM tokens WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []parley.Token
	for rows.Next() {
		var t parley.Token
		var created int64
		if err := rows.Scan(&t.ID, &t.TenantID, &t.Name, &t.Admin, &created); err != nil {
			return nil, fmt.Errorf("sqlite: scan token: %w", err)
		}
		t.CreatedAt = fromMicros(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token of a tenant.
func (db *DB) DeleteToken(ctx context.Context, tenantID, id string) error {
	return db.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fmt.Errorf("sqlite: delete token: %w", err)
		}
		return mustAffect(res, "token %q not found", id)
	})
}

const botColumns = `id, name, persona, language, webhook, model, reply, created_at, updated_at, model_key`

func scanBot(row interface{ Scan(...any) error }) (*parley.Bot, error) {
	var r botRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.decode()
}

// botRow is a bot as read: its columns (botColumns) scan into dest, then
// decode makes the bot. A query may read a bot with other columns.
type botRow struct {
	b                parley.Bot
	model, reply     string
	created, updated int64
}

func (r *botRow) dest() []any {
	return []any{&r.b.ID, &r.b.Name, &r.b.Persona, &r.b.Language, &r.b.Webhook, &r.model, &r.reply, &r.created, &r.updated, &r.b.ModelKey}
}

func (r *botRow) decode() (*parley.Bot, error) {
	if err := json.Unmarshal([]byte(r.model), &r.b.Model); err != nil {
		return nil, fmt.Errorf("decode bot model settings: %w", err)
	}
	if err := json.Unmarshal([]byte(r.reply), &r.b.Reply); err != nil {
		return nil, fmt.Errorf("decode bot reply settings: %w", err)
	}
	r.b.CreatedAt, r.b.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	return &r.b, nil
}

// CreateBot stores a new bot; an existing id is a conflict.
func (db *DB) CreateBot(ctx context.Context, tenantID string, b *parley.Bot) (*parley.Bot, error) {
	model, reply, err := encodeBotSettings(b)
	if err != nil {
		return nil, err
	}
	now := parley.Now()
	var out *parley.Bot
	err = db.withTx(ctx, func(tx *Tx) error {
		row := tx.QueryRowContext(ctx,
			`INSERT INTO bots (tenant_id, id, name, persona, language, webhook, model, reply, created_at, updated_at, model_key)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+botColumns,
			tenantID, b.ID, b.Name, b.Persona, b.Language, b.Webhook, model, reply, micros(now), micros(now), b.ModelKey)
		var err error
		out, err = scanBot(row)
		if isUniqueViolation(err) {
			return parley.FieldError(parley.ECONFLICT, "body.id", "bot %q already exists", b.ID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: insert bot: %w", err)
		}
		return nil
	})
	return out, err
}

// GetBot returns one bot of a tenant.
func (db *DB) GetBot(ctx context.Context, tenantID, id string) (*parley.Bot, error) {
	b, err := scanBot(db.read.QueryRowContext(ctx,
		`SELECT `+botColumns+` FROM bots WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "bot %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get bot: %w", err)
	}
	return b, nil
}

// ListBots lists a tenant's bots by id, after the given id.
func (db *DB) ListBots(ctx context.Context, tenantID, afterID string, limit int) ([]parley.Bot, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+botColumns+` FROM bots WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list bots: %w", err)
	}
	defer rows.Close()
	var out []parley.Bot
	for rows.Next() {
		b, err := scanBot(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan bot: %w", err)
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// UpdateBot applies a patch to a bot.
func (db *DB) UpdateBot(ctx context.Context, tenantID, id string, p parley.BotPatch) (*parley.Bot, error) {
	var out *parley.Bot
	err := db.withTx(ctx, func(tx *Tx) error {
		b, err := scanBot(tx.QueryRowContext(ctx,
			`SELECT `+botColumns+` FROM bots WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "bot %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read bot: %w", err)
		}
		p.Apply(b)
		model, reply, err := encodeBotSettings(b)
		if err != nil {
			return err
		}
		out, err = scanBot(tx.QueryRowContext(ctx,
			`UPDATE bots SET name = ?, persona = ?, language = ?, webhook = ?, model = ?, reply = ?, updated_at = ?, model_key = ?
			 WHERE tenant_id = ? AND id = ? RETURNING `+botColumns,
			b.Name, b.Persona, b.Language, b.Webhook, model, reply, micros(parley.Now()), b.ModelKey, tenantID, id))
		if err != nil {
			return fmt.Errorf("sqlite: update bot: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteBot deletes a bot with its conversations and their messages.
func (db *DB) DeleteBot(ctx context.Context, tenantID, id string) error {
	return db.withTx(ctx, func(tx *Tx) error {
		if err := unindexConversations(ctx, tx, `tenant_id = ? AND bot_id = ?`, tenantID, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM bots WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fmt.Errorf("sqlite: delete bot: %w", err)
		}
		return mustAffect(res, "bot %q not found", id)
	})
}

const userColumns = `id, platform, language, kv, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*parley.User, error) {
	var r userRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.decode()
}

// userRow is a user as read (userColumns), as botRow is a bot.
type userRow struct {
	u                parley.User
	kv               string
	created, updated int64
}

func (r *userRow) dest() []any {
	return []any{&r.u.ID, &r.u.Platform, &r.u.Language, &r.kv, &r.created, &r.updated}
}

func (r *userRow) decode() (*parley.User, error) {
	if err := json.Unmarshal([]byte(r.kv), &r.u.KV); err != nil {
		return nil, fmt.Errorf("decode user kv: %w", err)
	}
	r.u.CreatedAt, r.u.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	return &r.u, nil
}

// GetUser returns one user of a tenant.
func (db *DB) GetUser(ctx context.Context, tenantID, id string) (*parley.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "user %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get user: %w", err)
	}
	return u, nil
}

// PutUser creates a user or replaces all of its fields.
func (db *DB) PutUser(ctx context.Context, tenantID string, u *parley.User) (*parley.User, bool, error) {
	kv, err := json.Marshal(nonNilKV(u.KV))
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: encode kv: %w", err)
	}
	var out *parley.User
	var created bool
	err = db.withTx(ctx, func(tx *Tx) error {
		now := micros(parley.Now())
		var existed int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE tenant_id = ? AND id = ?`, tenantID, u.ID).
			Scan(&existed); err != nil {
			return fmt.Errorf("sqlite: read user: %w", err)
		}
		created = existed == 0
		out, err = scanUser(tx.QueryRowContext(ctx,
			`INSERT INTO users (tenant_id, id, platform, language, kv, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (tenant_id, id) DO UPDATE SET platform = excluded.platform,
			   language = excluded.language, kv = excluded.kv, updated_at = excluded.updated_at
			 RETURNING `+userColumns,
			tenantID, u.ID, u.Platform, u.Language, string(kv), now, now))
		if err != nil {
			return fmt.Errorf("sqlite: put user: %w", err)
		}
		return nil
	})
	return out, created, err
}

// PatchUser changes some fields of a user; KV entries merge (see MergeKV).
func (db *DB) PatchUser(ctx context.Context, tenantID, id string, p parley.UserPatch) (*parley.User, error) {
	var out *parley.User
	err := db.withTx(ctx, func(tx *Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx,
			`SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "user %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read user: %w", err)
		}
		if err := p.Apply(u); err != nil {
			return err
		}
		kv, err := json.Marshal(u.KV)
		if err != nil {
			return fmt.Errorf("sqlite: encode kv: %w", err)
		}
		out, err = scanUser(tx.QueryRowContext(ctx,
			`UPDATE users SET platform = ?, language = ?, kv = ?, updated_at = ?
			 WHERE tenant_id = ? AND id = ? RETURNING `+userColumns,
			u.Platform, u.Language, string(kv), micros(parley.Now()), tenantID, id))
		if err != nil {
			return fmt.Errorf("sqlite: update user: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteUser erases a user with all of their conversations and messages.
func (db *DB) DeleteUser(ctx context.Context, tenantID, id string) error {
	return db.withTx(ctx, func(tx *Tx) error {
		if err := unindexConversations(ctx, tx, `tenant_id = ? AND user_id = ?`, tenantID, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fmt.Errorf("sqlite: delete user: %w", err)
		}
		return mustAffect(res, "user %q not found", id)
	})
}

// unindexConversations removes from the search index the messages of the
// conversations matching where, before a cascade deletes the rows: the
// contentless index cannot find them by itself afterwards.
func unindexConversations(ctx context.Context, tx *Tx, where string, args ...any) error {
	_, err := tx.ExecContext(ctx,
		`DELETE FROM messages_fts WHERE rowid IN (
		   SELECT m.pk FROM messages m WHERE m.conversation_id IN (SELECT id FROM conversations WHERE `+where+`)
		   AND m.pk <= (SELECT last_rowid FROM search_index_state))`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: unindex messages: %w", err)
	}
	return nil
}

func mustAffect(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: rows affected: %w", err)
	}
	if n == 0 {
		return parley.Errorf(parley.ENOTFOUND, format, args...)
	}
	return nil
}

func nonNilKV(kv map[string]any) map[string]any {
	if kv == nil {
		return map[string]any{}
	}
	return kv
}

func encodeBotSettings(b *parley.Bot) (model, reply string, err error) {
	m, err := json.Marshal(b.Model)
	if err != nil {
		return "", "", fmt.Errorf("sqlite: encode model settings: %w", err)
	}
	r, err := json.Marshal(b.Reply)
	if err != nil {
		return "", "", fmt.Errorf("sqlite: encode reply settings: %w", err)
	}
	return string(m), string(r), nil
}

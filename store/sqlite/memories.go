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
)

const memoryColumns = `id, bot_id, user_id, kind, key, text, confidence, confirmations, version, conversation_id,
	source_seqs, created_at, updated_at, confirmed_at, vector_model, vector`

func scanMemory(row interface{ Scan(...any) error }) (*parley.Memory, error) {
	var m parley.Memory
	var seqs, model string
	var vector []byte
	var created, updated, confirmed int64
	if err := row.Scan(&m.ID, &m.BotID, &m.UserID, &m.Kind, &m.Key, &m.Text, &m.Confidence, &m.Confirmations, &m.Version,
		&m.ConversationID, &seqs, &created, &updated, &confirmed, &model, &vector); err != nil {
		return nil, err
	}
	var err error
	if m.Vector, err = parley.DecodeVector(model, vector); err != nil {
		return nil, fmt.Errorf("sqlite: decode memory %s: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(seqs), &m.SourceSeqs); err != nil {
		return nil, fmt.Errorf("sqlite: decode source seqs: %w", err)
	}
	m.CreatedAt, m.UpdatedAt, m.ConfirmedAt = fromMicros(created), fromMicros(updated), fromMicros(confirmed)
	return &m, nil
}

// ClaimMemories ends the conversation's "a memory job is queued" state.
func (db *DB) ClaimMemories(ctx context.Context, tenantID, conversationID string) (*parley.Conversation, error) {
	var c *parley.Conversation
	err := db.inGroup(ctx, redoable, func(ctx context.Context, tx *Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx,
			`UPDATE conversations SET memory_queued = 0 WHERE tenant_id = ? AND id = ? RETURNING `+conversationColumns,
			tenantID, conversationID))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim memories: %w", err)
		}
		return nil
	})
	return c, err
}

// StoreMemories stores a conversation's facts up to uptoSeq at once. A
// page with no facts only moves memories_seq: that commit is redoable (lost
// to a power cut, the page is read again and finds nothing again), so it
// costs the single writer no fsync of its own.
func (db *DB) StoreMemories(ctx context.Context, tenantID, conversationID string, uptoSeq int64, facts []parley.Fact) ([]parley.Memory, error) {
	var out []parley.Memory
	sync := redoable
	if len(facts) > 0 {
		sync = durable
	}
	err := db.inGroup(ctx, sync, func(ctx context.Context, tx *Tx) error {
		out = nil // a group run again starts over
		var botID, userID string
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT bot_id, user_id, memories_seq FROM conversations WHERE tenant_id = ? AND id = ?`,
			tenantID, conversationID).Scan(&botID, &userID, &seq)
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read conversation: %w", err)
		}
		if uptoSeq <= seq {
			return nil // read already
		}
		now := parley.Now()
		for _, f := range facts {
			change, m, err := storeFact(ctx, tx, tenantID, botID, userID, conversationID, f, now)
			if err != nil {
				return err
			}
			if err := db.insertEvent(ctx, tx, tenantID, conversationID, change.Event(), m, now); err != nil {
				return err
			}
			out = append(out, *m)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET memories_seq = ? WHERE id = ?`, uptoSeq, conversationID); err != nil {
			return fmt.Errorf("sqlite: advance memories: %w", err)
		}
		return nil
	})
	if len(out) > 0 {
		db.notify(conversationID)
	}
	return out, err
}

// storeFact applies one fact to the memory of its key (parley.PlanMemory).
func storeFact(ctx context.Context, tx *Tx, tenantID, botID, userID, conversationID string, f parley.Fact, now time.Time) (parley.MemoryChange, *parley.Memory, error) {
	if f.Key == "" {
		f.Key = parley.NormalKey(f.Kind, f.Text)
	}
	existing, err := scanMemory(tx.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories
		 WHERE tenant_id = ? AND bot_id = ? AND user_id = ? AND key = ?`, tenantID, botID, userID, f.Key))
	if errors.Is(err, sql.ErrNoRows) {
		existing, err = nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: read memory: %w", err)
	}
	change, m := parley.PlanMemory(existing, f, conversationID, now)
	m.BotID, m.UserID = botID, userID
	seqs, _ := json.Marshal(m.SourceSeqs) // ints: cannot fail
	switch change {
	case parley.MemoryCreate:
		_, err = tx.ExecContext(ctx, `INSERT INTO memories (id, tenant_id, bot_id, user_id, kind, key, text, confidence,
			 confirmations, version, conversation_id, source_seqs, created_at, updated_at, confirmed_at, vector_model, vector)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, tenantID, botID, userID, m.Kind, m.Key, m.Text, m.Confidence, m.Confirmations, m.Version,
			m.ConversationID, string(seqs), micros(now), micros(now), micros(now), m.Vector.Model, m.Vector.Bytes())
	case parley.MemorySupersede:
		if err = keepVersion(ctx, tx, existing, "superseded", now); err == nil {
			err = updateMemory(ctx, tx, &m, string(seqs), now)
		}
	default:
		err = updateMemory(ctx, tx, &m, string(seqs), now)
	}
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: store memory: %w", err)
	}
	return change, &m, nil
}

func updateMemory(ctx context.Context, tx *Tx, m *parley.Memory, seqs string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE memories SET kind = ?, text = ?, confidence = ?, confirmations = ?, version = ?,
		 conversation_id = ?, source_seqs = ?, updated_at = ?, confirmed_at = ?, vector_model = ?, vector = ? WHERE id = ?`,
		m.Kind, m.Text, m.Confidence, m.Confirmations, m.Version, m.ConversationID, seqs, micros(now), micros(m.ConfirmedAt),
		m.Vector.Model, m.Vector.Bytes(), m.ID)
	return err
}

// keepVersion puts a memory's current text in its history.
func keepVersion(ctx context.Context, tx *Tx, m *parley.Memory, reason string, now time.Time) error {
	seqs, _ := json.Marshal(m.SourceSeqs)
	_, err := tx.ExecContext(ctx, `INSERT INTO memory_versions (memory_id, version, kind, text, conversation_id, source_seqs,
		 reason, replaced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Version, m.Kind, m.Text, m.ConversationID, string(seqs), reason, micros(now))
	return err
}

// ListMemories lists a bot's memories of a user, newest first.
func (db *DB) ListMemories(ctx context.Context, tenantID string, f parley.MemoryFilter) ([]parley.Memory, error) {
	where := []string{"tenant_id = ?", "user_id = ?"}
	args := []any{tenantID, f.UserID}
	if f.BotID != "" {
		where, args = append(where, "bot_id = ?"), append(args, f.BotID)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.StaleFor != "" {
		where, args = append(where, "vector_model <> ?"), append(args, f.StaleFor)
	}
	if f.BeforeID != "" {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	for _, w := range parley.SearchWords(f.Search) {
		where, args = append(where, `lower(text) LIKE ? ESCAPE '\'`), append(args, "%"+likeEscape(w)+"%")
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+memoryColumns+` FROM memories WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list memories: %w", err)
	}
	defer rows.Close()
	out := []parley.Memory{}
	for rows.Next() {
		m, err := scanMemory(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan memory: %w", err)
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// likeEscape escapes LIKE's wildcards in a word.
func likeEscape(w string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w)
}

// GetMemory returns one memory of a tenant.
func (db *DB) GetMemory(ctx context.Context, tenantID, id string) (*parley.Memory, error) {
	m, err := scanMemory(db.read.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get memory: %w", err)
	}
	return m, nil
}

// AddMemory stores a fact given by hand.
func (db *DB) AddMemory(ctx context.Context, tenantID, botID, userID string, f parley.Fact) (*parley.Memory, parley.MemoryChange, error) {
	var out *parley.Memory
	var change parley.MemoryChange
	err := db.withTx(ctx, func(tx *Tx) error {
		var bot, user bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM bots WHERE tenant_id = ?1 AND id = ?2),
			 EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND id = ?3)`, tenantID, botID, userID).Scan(&bot, &user); err != nil {
			return fmt.Errorf("sqlite: read bot and user: %w", err)
		}
		if !bot {
			return parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", botID)
		}
		if !user {
			return parley.FieldError(parley.ENOTFOUND, "path.id", "user %q not found", userID)
		}
		var err error
		change, out, err = storeFact(ctx, tx, tenantID, botID, userID, "", f, parley.Now())
		return err
	})
	return out, change, err
}

// EditMemory replaces a memory's text and kind.
func (db *DB) EditMemory(ctx context.Context, tenantID, id string, f parley.Fact) (*parley.Memory, error) {
	var out *parley.Memory
	err := db.withTx(ctx, func(tx *Tx) error {
		m, err := scanMemory(tx.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: read memory: %w", err)
		}
		now := parley.Now()
		if err := keepVersion(ctx, tx, m, "edited", now); err != nil {
			return fmt.Errorf("sqlite: keep memory version: %w", err)
		}
		m.Kind, m.Text, m.Version, m.UpdatedAt, m.Confidence, m.Vector = f.Kind, f.Text, m.Version+1, now, 1, f.Vector
		seqs, _ := json.Marshal(m.SourceSeqs)
		if err := updateMemory(ctx, tx, m, string(seqs), now); err != nil {
			return fmt.Errorf("sqlite: edit memory: %w", err)
		}
		out = m
		return db.memoryEvent(ctx, tx, tenantID, parley.EventMemoryUpdated, m, now)
	})
	if err == nil && out.ConversationID != "" {
		db.notify(out.ConversationID)
	}
	return out, err
}

// memoryEvent records a change of a memory on the conversation where it
// was last said (none for a memory only ever added by hand).
func (db *DB) memoryEvent(ctx context.Context, tx *Tx, tenantID, typ string, m *parley.Memory, now time.Time) error {
	if m.ConversationID == "" {
		return nil
	}
	return db.insertEvent(ctx, tx, tenantID, m.ConversationID, typ, m, now)
}

// DeleteMemory erases a memory with its history.
func (db *DB) DeleteMemory(ctx context.Context, tenantID, id string) error {
	var m *parley.Memory
	err := db.withTx(ctx, func(tx *Tx) error {
		var err error
		m, err = scanMemory(tx.QueryRowContext(ctx, `DELETE FROM memories WHERE tenant_id = ? AND id = ? RETURNING `+memoryColumns,
			tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete memory: %w", err)
		}
		return db.memoryEvent(ctx, tx, tenantID, parley.EventMemoryDeleted, m, parley.Now())
	})
	if err == nil && m.ConversationID != "" {
		db.notify(m.ConversationID)
	}
	return err
}

// MemoryHistory returns a memory's past versions, newest first.
func (db *DB) MemoryHistory(ctx context.Context, tenantID, id string) ([]parley.MemoryVersion, error) {
	if _, err := db.GetMemory(ctx, tenantID, id); err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT version, kind, text, conversation_id, source_seqs, reason, replaced_at
		 FROM memory_versions WHERE memory_id = ? ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: memory history: %w", err)
	}
	defer rows.Close()
	out := []parley.MemoryVersion{}
	for rows.Next() {
		var v parley.MemoryVersion
		var seqs string
		var at int64
		if err := rows.Scan(&v.Version, &v.Kind, &v.Text, &v.ConversationID, &seqs, &v.Reason, &at); err != nil {
			return nil, fmt.Errorf("sqlite: scan memory version: %w", err)
		}
		if err := json.Unmarshal([]byte(seqs), &v.SourceSeqs); err != nil {
			return nil, fmt.Errorf("sqlite: decode source seqs: %w", err)
		}
		v.ReplacedAt = fromMicros(at)
		out = append(out, v)
	}
	return out, rows.Err()
}

// SetMemoryVectors gives memories new vectors, each at its version.
func (db *DB) SetMemoryVectors(ctx context.Context, tenantID string, vs []parley.MemoryVector) error {
	if len(vs) == 0 {
		return nil
	}
	return db.inGroup(ctx, redoable, func(ctx context.Context, tx *Tx) error {
		for _, v := range vs {
			if _, err := tx.ExecContext(ctx, `UPDATE memories SET vector_model = ?, vector = ? WHERE tenant_id = ? AND id = ? AND version = ?`,
				v.Vector.Model, v.Vector.Bytes(), tenantID, v.ID, v.Version); err != nil {
				return fmt.Errorf("sqlite: set memory vector: %w", err)
			}
		}
		return nil
	})
}

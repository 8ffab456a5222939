package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley"
)

const memoryColumns = `id, bot_id, user_id, kind, key, text, confidence, confirmations, version, conversation_id,
	source_seqs, created_at, updated_at, confirmed_at, vector_model, vector`

func scanMemory(row pgx.Row) (*parley.Memory, error) {
	var m parley.Memory
	var model string
	var vector []byte
	if err := row.Scan(&m.ID, &m.BotID, &m.UserID, &m.Kind, &m.Key, &m.Text, &m.Confidence, &m.Confirmations, &m.Version,
		&m.ConversationID, &m.SourceSeqs, &m.CreatedAt, &m.UpdatedAt, &m.ConfirmedAt, &model, &vector); err != nil {
		return nil, err
	}
	var err error
	if m.Vector, err = parley.DecodeVector(model, vector); err != nil {
		return nil, fmt.Errorf("postgres: decode memory %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt, m.ConfirmedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC(), m.ConfirmedAt.UTC()
	if m.SourceSeqs == nil {
		m.SourceSeqs = []int64{}
	}
	return &m, nil
}

// ClaimMemories ends the conversation's "a memory job is queued" state.
func (db *DB) ClaimMemories(ctx context.Context, tenantID, conversationID string) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx, claimMemoriesSQL, tenantID, conversationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: claim memories: %w", err)
	}
	return c, nil
}

// StoreMemories stores a conversation's facts up to uptoSeq at once, in
// three round trips whatever the number of facts: the reads, the writes,
// the commit.
//
// The conversation's row is read without a lock: every group commit with
// the conversation in it updates that row, and a lock held across this
// transaction's round trips held up each such group, and every reply and
// append in it. The advance of memories_seq, the last write, takes the
// row's lock until the commit only, and stores nothing when another job
// has read as far meanwhile (errReadAlready). The memories of the facts'
// keys are locked in the order of their keys, so that two jobs sharing
// keys lock them in the same order.
func (db *DB) StoreMemories(ctx context.Context, tenantID, conversationID string, uptoSeq int64, facts []parley.Fact) ([]parley.Memory, error) {
	facts = slices.Clone(facts)
	keys := make([]string, len(facts))
	for i := range facts {
		if facts[i].Key == "" {
			facts[i].Key = parley.NormalKey(facts[i].Kind, facts[i].Text)
		}
		keys[i] = facts[i].Key
	}
	var out []parley.Memory
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		out = nil
		var botID, userID string
		var seq int64
		found := false
		existing := map[string]*parley.Memory{}
		var read pgx.Batch
		read.Queue(`SELECT bot_id, user_id, memories_seq FROM conversations WHERE tenant_id = $1 AND id = $2`,
			tenantID, conversationID).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				found = true
				if err := rows.Scan(&botID, &userID, &seq); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		if len(keys) > 0 {
			read.Queue(`SELECT `+memoryColumns+` FROM memories
				 WHERE tenant_id = $1 AND (bot_id, user_id) = (SELECT bot_id, user_id FROM conversations WHERE tenant_id = $1 AND id = $2)
				   AND key = ANY($3) ORDER BY key FOR UPDATE OF memories`, tenantID, conversationID, keys).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					m, err := scanMemory(rows)
					if err != nil {
						return err
					}
					existing[m.Key] = m
				}
				return rows.Err()
			})
		}
		if err := tx.SendBatch(ctx, &read).Close(); err != nil {
			return fmt.Errorf("postgres: read conversation and memories: %w", err)
		}
		if !found {
			return parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if uptoSeq <= seq {
			return nil // read already
		}
		now := parley.Now()
		var write pgx.Batch
		events := make([]*eventInsert, 0, len(facts))
		for _, f := range facts {
			change, m := queueFact(&write, tenantID, botID, userID, conversationID, existing[f.Key], f, now)
			existing[f.Key] = m // a later fact of the same key applies to this one
			e, err := newEventInsert(tenantID, conversationID, change.Event(), m, now)
			if err != nil {
				return err
			}
			e.queue(&write)
			events = append(events, e)
			out = append(out, *m)
		}
		write.Queue(`UPDATE conversations SET memories_seq = $2 WHERE id = $1 AND memories_seq < $2`,
			conversationID, uptoSeq).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return errReadAlready
			}
			return nil
		})
		if err := tx.SendBatch(ctx, &write).Close(); err != nil {
			if errors.Is(err, errReadAlready) {
				return err
			}
			return fmt.Errorf("postgres: store memories: %w", err)
		}
		for _, e := range events {
			if err := db.deliver(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errReadAlready) {
		return nil, nil
	}
	if err != nil {
		return nil, err // planned, but not stored
	}
	return out, nil
}

// claimMemoriesSQL commits without waiting for its WAL flush, as a reply's
// claim does (claimReplySQL) and for the same reason: it is redoable. A
// claim lost to a crash takes with it everything committed after it (the
// job's stored facts and its completion wait for the flush past it), so
// the job runs again and claims again. Waiting for the flush held the
// conversation's row lock through it, and every group commit with the
// conversation in it waited too.
const claimMemoriesSQL = `WITH durability AS (SELECT set_config('synchronous_commit', 'off', true))
	UPDATE conversations SET memory_queued = false FROM durability
	WHERE tenant_id = $1 AND id = $2 RETURNING ` + conversationColumns

// errReadAlready rolls back a StoreMemories whose messages another job
// stored the facts of while it ran.
var errReadAlready = errors.New("postgres: memories read already")

// queueFact queues the writes that apply fact f to existing, the memory
// of its key (nil: there is none; the caller holds its row's lock), as
// parley.PlanMemory decides, and returns the change and the memory as it
// is stored. Two writers of one key are ordered by the memory row's lock,
// or by the unique key when there is no row yet (the loser's transaction
// is retried by its job).
func queueFact(b *pgx.Batch, tenantID, botID, userID, conversationID string, existing *parley.Memory, f parley.Fact, now time.Time) (parley.MemoryChange, *parley.Memory) {
	change, m := parley.PlanMemory(existing, f, conversationID, now)
	m.BotID, m.UserID = botID, userID
	switch change {
	case parley.MemoryCreate:
		b.Queue(`INSERT INTO memories (id, tenant_id, bot_id, user_id, kind, key, text, confidence,
			 confirmations, version, conversation_id, source_seqs, created_at, updated_at, confirmed_at, vector_model, vector)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13, $14, $15)`,
			m.ID, tenantID, botID, userID, m.Kind, m.Key, m.Text, m.Confidence, m.Confirmations, m.Version,
			m.ConversationID, m.SourceSeqs, now, m.Vector.Model, m.Vector.Bytes())
	case parley.MemorySupersede:
		queueKeepVersion(b, existing, "superseded", now)
		queueUpdateMemory(b, &m)
	default:
		queueUpdateMemory(b, &m)
	}
	return change, &m
}

func queueUpdateMemory(b *pgx.Batch, m *parley.Memory) {
	b.Queue(`UPDATE memories SET kind = $2, text = $3, confidence = $4, confirmations = $5, version = $6,
		 conversation_id = $7, source_seqs = $8, updated_at = $9, confirmed_at = $10, vector_model = $11, vector = $12 WHERE id = $1`,
		m.ID, m.Kind, m.Text, m.Confidence, m.Confirmations, m.Version, m.ConversationID, m.SourceSeqs, m.UpdatedAt, m.ConfirmedAt,
		m.Vector.Model, m.Vector.Bytes())
}

// queueKeepVersion queues putting a memory's current text in its history.
func queueKeepVersion(b *pgx.Batch, m *parley.Memory, reason string, now time.Time) {
	b.Queue(`INSERT INTO memory_versions (memory_id, version, kind, text, conversation_id, source_seqs,
		 reason, replaced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		m.ID, m.Version, m.Kind, m.Text, m.ConversationID, m.SourceSeqs, reason, now)
}

// ListMemories lists a bot's memories of a user, newest first.
func (db *DB) ListMemories(ctx context.Context, tenantID string, f parley.MemoryFilter) ([]parley.Memory, error) {
	where := []string{"tenant_id = $1", "user_id = $2"}
	args := []any{tenantID, f.UserID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.BotID != "" {
		add("bot_id = ?", f.BotID)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.StaleFor != "" {
		add("vector_model <> ?", f.StaleFor)
	}
	if f.BeforeID != "" {
		add("id < ?", f.BeforeID)
	}
	for _, w := range parley.SearchWords(f.Search) {
		add(`text ILIKE ?`, "%"+likeEscape(w)+"%")
	}
	args = append(args, f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+memoryColumns+` FROM memories WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list memories: %w", err)
	}
	return collectMemories(rows)
}

// collectMemories reads rows of memoryColumns: never nil.
func collectMemories(rows pgx.Rows) ([]parley.Memory, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.Memory, error) {
		m, err := scanMemory(row)
		if err != nil {
			return parley.Memory{}, err
		}
		return *m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan memories: %w", err)
	}
	if out == nil {
		out = []parley.Memory{}
	}
	return out, nil
}

// likeEscape escapes LIKE's wildcards in a word (the default escape is \).
func likeEscape(w string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w)
}

// GetMemory returns one memory of a tenant.
func (db *DB) GetMemory(ctx context.Context, tenantID, id string) (*parley.Memory, error) {
	m, err := scanMemory(db.pool.QueryRow(ctx, `SELECT `+memoryColumns+` FROM memories WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get memory: %w", err)
	}
	return m, nil
}

// AddMemory stores a fact given by hand.
func (db *DB) AddMemory(ctx context.Context, tenantID, botID, userID string, f parley.Fact) (*parley.Memory, parley.MemoryChange, error) {
	var out *parley.Memory
	var change parley.MemoryChange
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		var bot, user bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bots WHERE tenant_id = $1 AND id = $2),
			 EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $3)`, tenantID, botID, userID).Scan(&bot, &user); err != nil {
			return fmt.Errorf("postgres: read bot and user: %w", err)
		}
		if !bot {
			return parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", botID)
		}
		if !user {
			return parley.FieldError(parley.ENOTFOUND, "path.id", "user %q not found", userID)
		}
		if f.Key == "" {
			f.Key = parley.NormalKey(f.Kind, f.Text)
		}
		existing, err := scanMemory(tx.QueryRow(ctx, `SELECT `+memoryColumns+` FROM memories
			 WHERE tenant_id = $1 AND bot_id = $2 AND user_id = $3 AND key = $4 FOR UPDATE`, tenantID, botID, userID, f.Key))
		if errors.Is(err, pgx.ErrNoRows) {
			existing, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("postgres: read memory: %w", err)
		}
		var b pgx.Batch
		change, out = queueFact(&b, tenantID, botID, userID, "", existing, f, parley.Now())
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("postgres: store memory: %w", err)
		}
		return nil
	})
	return out, change, err
}

// EditMemory replaces a memory's text and kind.
func (db *DB) EditMemory(ctx context.Context, tenantID, id string, f parley.Fact) (*parley.Memory, error) {
	var out *parley.Memory
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		m, err := scanMemory(tx.QueryRow(ctx, `SELECT `+memoryColumns+` FROM memories WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: read memory: %w", err)
		}
		now := parley.Now()
		var b pgx.Batch
		queueKeepVersion(&b, m, "edited", now)
		edited := *m
		edited.Kind, edited.Text, edited.Version, edited.UpdatedAt, edited.Confidence, edited.Vector = f.Kind, f.Text, m.Version+1, now, 1, f.Vector
		m = &edited
		queueUpdateMemory(&b, m)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("postgres: edit memory: %w", err)
		}
		out = m
		return db.memoryEvent(ctx, tx, tenantID, parley.EventMemoryUpdated, m, now)
	})
	return out, err
}

// memoryEvent records a change of a memory on the conversation where it
// was last said (none for a memory only ever added by hand).
func (db *DB) memoryEvent(ctx context.Context, tx pgx.Tx, tenantID, typ string, m *parley.Memory, now time.Time) error {
	if m.ConversationID == "" {
		return nil
	}
	return db.insertEvent(ctx, tx, tenantID, m.ConversationID, typ, m, now)
}

// DeleteMemory erases a memory with its history.
func (db *DB) DeleteMemory(ctx context.Context, tenantID, id string) error {
	return db.withTx(ctx, func(tx pgx.Tx) error {
		m, err := scanMemory(tx.QueryRow(ctx, `DELETE FROM memories WHERE tenant_id = $1 AND id = $2 RETURNING `+memoryColumns,
			tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.ENOTFOUND, "memory %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete memory: %w", err)
		}
		return db.memoryEvent(ctx, tx, tenantID, parley.EventMemoryDeleted, m, parley.Now())
	})
}

// MemoryHistory returns a memory's past versions, newest first.
func (db *DB) MemoryHistory(ctx context.Context, tenantID, id string) ([]parley.MemoryVersion, error) {
	if _, err := db.GetMemory(ctx, tenantID, id); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT version, kind, text, conversation_id, source_seqs, reason, replaced_at
		 FROM memory_versions WHERE memory_id = $1 ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: memory history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.MemoryVersion, error) {
		var v parley.MemoryVersion
		err := row.Scan(&v.Version, &v.Kind, &v.Text, &v.ConversationID, &v.SourceSeqs, &v.Reason, &v.ReplacedAt)
		v.ReplacedAt = v.ReplacedAt.UTC()
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan memory versions: %w", err)
	}
	if out == nil {
		out = []parley.MemoryVersion{}
	}
	return out, nil
}

// SetMemoryVectors gives memories new vectors, each at its version, in one
// statement.
func (db *DB) SetMemoryVectors(ctx context.Context, tenantID string, vs []parley.MemoryVector) error {
	if len(vs) == 0 {
		return nil
	}
	ids, versions, models, vectors := make([]string, len(vs)), make([]int32, len(vs)), make([]string, len(vs)), make([][]byte, len(vs))
	for i, v := range vs {
		ids[i], versions[i], models[i], vectors[i] = v.ID, int32(v.Version), v.Vector.Model, v.Vector.Bytes()
	}
	if _, err := db.pool.Exec(ctx, `UPDATE memories m SET vector_model = u.model, vector = u.vector
	   FROM unnest($2::text[], $3::int[], $4::text[], $5::bytea[]) AS u (id, version, model, vector)
	   WHERE m.tenant_id = $1 AND m.id = u.id AND m.version = u.version`, tenantID, ids, versions, models, vectors); err != nil {
		return fmt.Errorf("postgres: set memory vectors: %w", err)
	}
	return nil
}

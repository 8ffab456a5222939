package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// AppendMessage stores a message at the end of a conversation and returns it
// once it is durable. With an idempotency key already used for this
// conversation it returns the stored message (Replayed) and stores nothing;
// a different request under the same key is a conflict.
func (db *DB) AppendMessage(ctx context.Context, tenantID, conversationID string, msg parley.NewMessage) (parley.AppendResult, error) {
	var res parley.AppendResult
	err := db.inGroup(ctx, durable, func(ctx context.Context, tx *Tx) error {
		var err error
		res, err = db.appendOne(ctx, tx, tenantID, conversationID, msg)
		return err
	})
	if err != nil {
		return parley.AppendResult{}, err
	}
	if res.Message.FromBot && !res.Replayed && !msg.NoReply {
		db.notify(conversationID) // a bot-side message is an event
	}
	return res, nil
}

func (db *DB) appendOne(ctx context.Context, tx *Tx, tenantID, conversationID string, m parley.NewMessage) (parley.AppendResult, error) {
	var st parley.ConversationState
	var replyJSON string
	err := tx.QueryRowContext(ctx, appendStateSQL, tenantID, conversationID).Scan(&st.LastSeq, &st.LastUserSeq,
		&st.AnsweredSeq, &st.ReplyQueued, &st.MemoryQueued, &st.Digest, &replyJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.AppendResult{}, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: read conversation: %w", err)
	}
	var prior *parley.Idempotent
	if m.IdempotencyKey != "" {
		var hash sql.NullString
		prev, err := scanMessageWithHash(tx.QueryRowContext(ctx, appendIdempotentSQL, conversationID, m.IdempotencyKey), conversationID, &hash)
		switch {
		case err == nil:
			prior = &parley.Idempotent{Message: prev, RequestHash: hash.String}
		case !errors.Is(err, sql.ErrNoRows):
			return parley.AppendResult{}, fmt.Errorf("sqlite: read idempotent message: %w", err)
		}
	}
	if err := json.Unmarshal([]byte(replyJSON), &st.Reply); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: decode reply settings: %w", err)
	}
	now := parley.Now()
	plan, err := parley.PlanAppend(tenantID, conversationID, st, m, prior, now)
	if err != nil || plan.Replayed {
		return parley.AppendResult{Message: plan.Message, Replayed: plan.Replayed}, err
	}
	msg := plan.Message
	bubbles, media, err := encodeContent(msg.Text, msg.Bubbles, msg.AttachedMedia)
	if err != nil {
		return parley.AppendResult{}, err
	}
	if _, err := tx.ExecContext(ctx, appendAdvanceSQL, micros(now), msg.Seq, plan.UserMessage, plan.Answered,
		plan.Job != nil, plan.Digest, conversationID, plan.MemoryJob != nil); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: advance conversation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, appendInsertSQL, msg.ID, msg.ConversationID, msg.Seq, tenantID, msg.FromBot, msg.Text,
		bubbles, media, nullString(string(m.Metadata)), nullString(m.IdempotencyKey), nullString(m.RequestHash),
		micros(msg.CreatedAt), plan.Digest); err != nil {
		return parley.AppendResult{}, fmt.Errorf("sqlite: insert message: %w", err)
	}
	if plan.Event {
		if err := db.insertEvent(ctx, tx, tenantID, conversationID, parley.EventMessageCreated, msg, now); err != nil {
			return parley.AppendResult{}, err
		}
	}
	if plan.Job != nil {
		tx.enqueue(*plan.Job, store.ReplyJobOpts())
	}
	if plan.MemoryJob != nil {
		tx.enqueue(*plan.MemoryJob, store.MemoryJobOpts())
	}
	if plan.MediaJob != nil {
		tx.enqueue(*plan.MediaJob, store.MediaJobOpts())
	}
	return parley.AppendResult{Message: msg}, nil
}

func scanMessageWithHash(row *sql.Row, conversationID string, hash *sql.NullString) (*parley.Message, error) {
	var m parley.Message
	var p pageScan
	if err := p.scan(row, conversationID, &m, hash); err != nil {
		return nil, err
	}
	return &m, nil
}

// extraScan appends destinations for columns selected after the usual ones.
type extraScan struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

// encodeContent encodes a message's bubbles and media for their columns.
// The bubbles are NULL when they are one bubble that is the text, as most
// messages' are: the text is not stored (and read and decoded) twice.
func encodeContent(text string, bubbles []string, attached []parley.Media) (sql.NullString, string, error) {
	var b sql.NullString
	if len(bubbles) != 1 || bubbles[0] != text {
		enc, err := json.Marshal(nonNil(bubbles))
		if err != nil {
			return b, "", fmt.Errorf("sqlite: encode bubbles: %w", err)
		}
		b = sql.NullString{String: string(enc), Valid: true}
	}
	md, err := json.Marshal(nonNil(attached))
	if err != nil {
		return b, "", fmt.Errorf("sqlite: encode media: %w", err)
	}
	return b, string(md), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// messageColumns are a message's columns as a read within one
// conversation selects them (pageScan): not the conversation's id, which
// the caller has and every row would allocate again, and the empty media
// list most messages have as NULL, which allocates nothing.
const messageColumns = `id, seq, from_bot, text, bubbles, nullif(media, '[]'), metadata, status, created_at`

// pageScan reads rows of messageColumns. One serves a whole page: its
// destinations are reused row after row, so that a row allocates its
// strings and little else (a history page is read often, and what it
// allocates is most of what the collector has to do while serving it).
type pageScan struct {
	dest                     []any
	bubbles, media, metadata sql.NullString
	created                  int64
	text                     store.TextBubbles
}

// scan reads a row into m, and extra columns after messageColumns into
// extra.
func (p *pageScan) scan(row interface{ Scan(...any) error }, conversationID string, m *parley.Message, extra ...any) error {
	p.dest = append(append(p.dest[:0], &m.ID, &m.Seq, &m.FromBot, &m.Text, &p.bubbles, &p.media, &p.metadata, &m.Status, &p.created), extra...)
	if err := row.Scan(p.dest...); err != nil {
		return err
	}
	m.ConversationID = conversationID
	if !p.bubbles.Valid { // one bubble, the text (encodeContent)
		m.Bubbles = p.text.Of(m.Text)
	} else if err := json.Unmarshal([]byte(p.bubbles.String), &m.Bubbles); err != nil {
		return fmt.Errorf("decode bubbles: %w", err)
	}
	m.AttachedMedia = []parley.Media{} // NULL: the empty list (messageColumns)
	if p.media.Valid {
		if err := json.Unmarshal([]byte(p.media.String), &m.AttachedMedia); err != nil {
			return fmt.Errorf("decode media: %w", err)
		}
	}
	if p.metadata.Valid {
		m.Metadata = json.RawMessage(p.metadata.String)
	}
	m.CreatedAt = fromMicros(p.created)
	return nil
}

// ListMessages returns a page of a conversation's messages.
func (db *DB) ListMessages(ctx context.Context, tenantID, conversationID string, q parley.HistoryQuery) ([]parley.Message, error) {
	order := "ASC"
	if q.Order == parley.Descending {
		order = "DESC"
	}
	before := q.BeforeSeq
	if before <= 0 {
		before = 1 << 62
	}
	// One statement, its own snapshot: the tenant check is a constant
	// condition of the page read. Only an empty page needs a second look,
	// to tell an empty page from a conversation that is not there.
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+messageColumns+` FROM messages WHERE conversation_id = ? AND seq > ? AND seq < ?
		   AND EXISTS (SELECT 1 FROM conversations WHERE tenant_id = ? AND id = ?)
		 ORDER BY seq `+order+` LIMIT ?`, conversationID, q.AfterSeq, before, tenantID, conversationID, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	out, err := collectPage(rows, conversationID, q.Limit)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		var one int
		err := db.read.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE tenant_id = ? AND id = ?`, tenantID, conversationID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: read conversation: %w", err)
		}
	}
	return out, nil
}

// HistoryDigest returns how many messages the conversation has and the
// digest of its history up to message seq, or up to the last one when
// there are fewer (parley.ChainDigest); the digest is nil when unknown.
func (db *DB) HistoryDigest(ctx context.Context, tenantID, conversationID string, seq int64) (int64, []byte, error) {
	var stored int64
	var digest []byte
	err := db.read.QueryRowContext(ctx,
		`SELECT c.last_seq, m.digest FROM conversations c
		 LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = min(c.last_seq, ?)
		 WHERE c.tenant_id = ? AND c.id = ?`, seq, tenantID, conversationID).Scan(&stored, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: read history digest: %w", err)
	}
	if min(stored, seq) <= 0 {
		return stored, parley.ChainStart, nil
	}
	return stored, digest, nil
}

// MessagesAt returns the conversation's messages with the given seqs, in
// seq order; the seqs go as one JSON array.
func (db *DB) MessagesAt(ctx context.Context, tenantID, conversationID string, seqs []int64) ([]parley.Message, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages at: %w", err)
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+messageColumns+` FROM messages WHERE conversation_id = ? AND tenant_id = ?
		   AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq`, conversationID, tenantID, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages at: %w", err)
	}
	return collectPage(rows, conversationID, len(seqs))
}

// SearchMessages returns, for each of terms, the conversation's most
// recent messages below beforeSeq (0: any) that contain it, at most
// perTerm of them, with their neighbours up to around seqs either side:
// each once, newest first, in one statement. Ranking is the caller's:
// FTS5's bm25() would scan every conversation's matches for its
// statistics.
func (db *DB) SearchMessages(ctx context.Context, tenantID, conversationID string, terms []string, beforeSeq int64, perTerm, around int) ([]parley.Message, error) {
	conv := `conv : "` + strings.ReplaceAll(conversationID, "-", "") + `" AND text : (`
	var parts []string
	var args []any
	for _, term := range terms {
		q := ftsQueryAny(term)
		if q == "" {
			continue
		}
		// The seq bound is given to the index as a rowid bound (a
		// conversation's rows are numbered in seq order), so that matches
		// inside the history window are never read: a search for a common
		// word would otherwise read and throw away dozens of them first.
		// A match's seq comes from the pk index alone; the tenant is the
		// outer statement's check, which every row returned passes. The
		// limit is written into the statement (ftsLimit), not bound.
		parts = append(parts, `SELECT * FROM (SELECT m.seq
		   FROM messages_fts f JOIN messages m ON m.pk = f.rowid
		   WHERE messages_fts MATCH ? AND f.rowid < coalesce((SELECT pk FROM messages
		         WHERE conversation_id = ? AND seq = ?), 9223372036854775807)
		     AND m.conversation_id = ? AND (? = 0 OR m.seq < ?)
		   ORDER BY f.rowid DESC LIMIT `+ftsLimit(perTerm)+`)`)
		args = append(args, conv+q+`)`, conversationID, beforeSeq, conversationID, beforeSeq, beforeSeq)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	offsets := make([]int, 0, 2*around+1)
	for d := -around; d <= around; d++ {
		offsets = append(offsets, d)
	}
	list, err := json.Marshal(offsets)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search messages: %w", err)
	}
	rows, err := db.search.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
	   WHERE conversation_id = ? AND tenant_id = ? AND (? = 0 OR seq < ?)
	     AND seq IN (SELECT h.seq + d.value FROM (`+strings.Join(parts, "\n UNION ALL ")+`) h, json_each(?) d)
	   ORDER BY seq DESC`, append(append([]any{conversationID, tenantID, beforeSeq, beforeSeq}, args...), string(list))...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search messages: %w", err)
	}
	return collectPage(rows, conversationID, math.MaxInt)
}

// ftsLimit is a full-text subquery's LIMIT as written in its statement.
// Bound as a parameter, it has SQLite prepare the whole statement again on
// every run (sqlite3Reprepare, in a profile of recall: docs/performance.md);
// the limits are a few constants, so the statement cache holds one
// statement for each.
func ftsLimit(n int) string { return strconv.Itoa(max(n, 0)) }

// collectPage reads and closes rows of messageColumns of the
// conversation, of a statement that returns at most limit of them, each scanned into its place in the
// page (store.PageSlot).
func collectPage(rows *sql.Rows, conversationID string, limit int) ([]parley.Message, error) {
	defer rows.Close()
	out := []parley.Message{}
	var p pageScan
	for rows.Next() {
		var m *parley.Message
		out, m = store.PageSlot(out, limit)
		if err := p.scan(rows, conversationID, m); err != nil {
			return nil, fmt.Errorf("sqlite: scan message: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read messages: %w", err)
	}
	return out, nil
}

// nextPKSQL gives a new message its pk, the full-text index's rowid: the
// one after the highest stored or already indexed, so that the indexer's
// watermark (search_index_state) never passes a message it has not read,
// and a conversation's pks grow with its seqs (SearchMessages relies on
// both). Messages are clustered by conversation (migration 14), so pk is a
// column of its own with a unique index, and both reads are an index's
// last entry.
const nextPKSQL = `(SELECT max(coalesce((SELECT max(pk) FROM messages), 0), last_rowid) + 1 FROM search_index_state)`

// The statements of an append.
const (
	appendStateSQL = `SELECT c.last_seq, c.last_user_seq, c.answered_seq, c.reply_queued, c.memory_queued, c.digest, b.reply FROM conversations c
	   JOIN bots b ON b.tenant_id = c.tenant_id AND b.id = c.bot_id WHERE c.tenant_id = ? AND c.id = ?`
	appendIdempotentSQL = `SELECT ` + messageColumns + `, request_hash FROM messages WHERE conversation_id = ? AND idempotency_key = ?`
	appendInsertSQL     = `INSERT INTO messages (pk, id, conversation_id, seq, tenant_id, from_bot, text, bubbles, media, metadata,
	   idempotency_key, request_hash, created_at, digest) VALUES (` + nextPKSQL + `, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// The conversation advanced past the message (parley.AppendPlan).
	appendAdvanceSQL = `UPDATE conversations SET last_seq = ?2, updated_at = ?1, last_message_at = ?1,
	   last_user_seq = CASE WHEN ?3 THEN ?2 ELSE last_user_seq END,
	   answered_seq = CASE WHEN ?4 THEN ?2 ELSE answered_seq END,
	   reply_queued = CASE WHEN ?5 THEN 1 ELSE reply_queued END, digest = ?6,
	   memory_queued = CASE WHEN ?8 THEN 1 ELSE memory_queued END
	   WHERE id = ?7`
)

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/store"
)

// messageColumns are a message's columns as a read within one
// conversation selects them (pageScan): not the conversation's id, which
// the caller has and every row would allocate again, and as NULL the
// bubbles that are one bubble of the text and the empty media list (most
// messages' both), which need no JSON decoded.
const messageColumns = `id, seq, from_bot, text, nullif(bubbles, jsonb_build_array(text)), nullif(media, '[]'::jsonb), metadata, status, created_at`

// pageScan reads rows of messageColumns. One serves a whole page: its
// destinations are reused row after row, so that a row allocates its
// strings and little else (a history page is read often, and what it
// allocates is most of what the collector has to do while serving it).
type pageScan struct {
	dest     []any
	metadata []byte
	text     store.TextBubbles
}

// scan reads a row into m, and extra columns after messageColumns into
// extra.
func (p *pageScan) scan(row pgx.Row, conversationID string, m *parley.Message, extra ...any) error {
	p.dest = append(append(p.dest[:0], &m.ID, &m.Seq, &m.FromBot, &m.Text, &m.Bubbles, &m.AttachedMedia, &p.metadata, &m.Status, &m.CreatedAt), extra...)
	p.metadata = nil
	if err := row.Scan(p.dest...); err != nil {
		return err
	}
	m.ConversationID = conversationID
	if m.Bubbles == nil { // one bubble, the text
		m.Bubbles = p.text.Of(m.Text)
	}
	if m.AttachedMedia == nil {
		m.AttachedMedia = []parley.Media{}
	}
	if p.metadata != nil {
		m.Metadata = json.RawMessage(p.metadata)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return nil
}

// collectPage reads and closes rows of messageColumns of the
// conversation, of a statement that returns at most limit of them, each
// scanned into its place in the page (store.PageSlot).
func collectPage(rows pgx.Rows, conversationID string, limit int) ([]parley.Message, error) {
	defer rows.Close()
	out := []parley.Message{}
	var p pageScan
	for rows.Next() {
		var m *parley.Message
		out, m = store.PageSlot(out, limit)
		if err := p.scan(rows, conversationID, m); err != nil {
			return nil, fmt.Errorf("postgres: scan message: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read messages: %w", err)
	}
	return out, nil
}

// AppendMessage stores a message at the end of a conversation. With an
// idempotency key already used for this conversation it returns the stored
// message (Replayed) and stores nothing; a different request under the same
// key is a conflict. A user message enqueues the bot's reply in the same
// transaction, as the bot's reply policy says.
func (db *DB) AppendMessage(ctx context.Context, tenantID, conversationID string, nm parley.NewMessage) (parley.AppendResult, error) {
	op := &groupOp{tenantID: tenantID, conversationID: conversationID, nm: nm}
	err := db.inGroup(ctx, op)
	return op.res, err
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
	// One statement: the tenant check is a constant condition of the page
	// read. Only an empty page needs a second look, to tell an empty page
	// from a conversation that is not there.
	rows, err := db.pool.Query(ctx,
		`SELECT `+messageColumns+` FROM messages
		 WHERE conversation_id = $2 AND seq > $3 AND seq < $4
		   AND EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2)
		 ORDER BY seq `+order+` LIMIT $5`,
		tenantID, conversationID, q.AfterSeq, before, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list messages: %w", err)
	}
	out, err := collectPage(rows, conversationID, q.Limit)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		var one int
		err := db.pool.QueryRow(ctx, `SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2`, tenantID, conversationID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: read conversation: %w", err)
		}
	}
	return out, nil
}

// RawInsert writes one message row in its own transaction with nothing else:
// no conversation lock, no sequence check. It is the baseline the benchmark
// compares appends with.
func (db *DB) RawInsert(ctx context.Context, tenantID, conversationID string, seq int64, text string) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO messages (conversation_id, seq, id, tenant_id, from_bot, text, bubbles, media, created_at)
		 VALUES ($1, $2, $3, $4, false, $5, '[]', '[]', $6)`, conversationID, seq, parley.NewID(), tenantID, text, parley.Now())
	return err
}

// HistoryDigest returns how many messages the conversation has and the
// digest of its history up to message seq, or up to the last one when
// there are fewer (parley.ChainDigest); the digest is nil when unknown.
func (db *DB) HistoryDigest(ctx context.Context, tenantID, conversationID string, seq int64) (int64, []byte, error) {
	var stored int64
	var digest []byte
	err := db.pool.QueryRow(ctx,
		`SELECT c.last_seq, m.digest FROM conversations c
		 LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = least(c.last_seq, $1)
		 WHERE c.tenant_id = $2 AND c.id = $3`, seq, tenantID, conversationID).Scan(&stored, &digest)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, parley.Errorf(parley.ENOTFOUND, "conversation %q not found", conversationID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: read history digest: %w", err)
	}
	if min(stored, seq) <= 0 {
		return stored, parley.ChainStart, nil
	}
	return stored, digest, nil
}

// MessagesAt returns the conversation's messages with the given seqs, in
// seq order.
func (db *DB) MessagesAt(ctx context.Context, tenantID, conversationID string, seqs []int64) ([]parley.Message, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
	   WHERE conversation_id = $1 AND tenant_id = $2 AND seq = ANY($3) ORDER BY seq`, conversationID, tenantID, seqs)
	if err != nil {
		return nil, fmt.Errorf("postgres: messages at: %w", err)
	}
	return collectPage(rows, conversationID, len(seqs))
}

// SearchMessages returns, for each of terms, the conversation's most
// recent messages below beforeSeq (0: any) that contain it, at most
// perTerm of them, with their neighbours up to around seqs either side:
// each once, newest first. Ranking is the caller's.
//
// A conversation of up to searchScan messages is read in one pass through
// its primary key, each row matched against all the terms at once, the
// GIN index kept out of the plan (the match is not a condition an index
// can take): a word's GIN list spans the whole table, and in a large
// tenant the index reads a posting page for nearly every message of the
// conversation, for every term, where the one pass reads each row once for
// all of them. A longer conversation is searched word by word, each word's
// newest matches by whichever of the primary key (newest first) and the
// GIN index its plan takes: the one pass would read all its rows.
func (db *DB) SearchMessages(ctx context.Context, tenantID, conversationID string, terms []string, beforeSeq int64, perTerm, around int) ([]parley.Message, error) {
	var queries []string
	for _, term := range terms {
		if q := tsQueryAny(term); q != "" {
			queries = append(queries, q)
		}
	}
	if len(queries) == 0 {
		return nil, nil
	}
	var last int64
	err := db.pool.QueryRow(ctx, `SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2`, tenantID, conversationID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // another tenant's, or none: nothing found
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: search messages: %w", err)
	}
	if beforeSeq > 0 {
		last = min(last, beforeSeq-1)
	}
	// Each tsquery is made once (a CTE, a subquery): in a generic plan,
	// to_tsquery of a parameter beside each row's match is parsed again
	// for every row. The rows wanted are read as one array of seqs,
	// through the primary key.
	args := []any{conversationID, tenantID, beforeSeq, queries, perTerm, around}
	var ranked string
	if last <= db.searchScan {
		args = append(args, strings.Join(queries, " | "))
		ranked = `m AS MATERIALIZED (
	     SELECT seq, tsv FROM messages WHERE conversation_id = $1 AND tenant_id = $2 AND ($3::bigint = 0 OR seq < $3)
	       AND (tsv @@ (SELECT to_tsquery('english', $7))) IS TRUE),
	   ranked AS (
	     SELECT m.seq, row_number() OVER (PARTITION BY q.i ORDER BY m.seq DESC) AS n FROM m JOIN q ON m.tsv @@ q.tq)`
	} else {
		ranked = `ranked AS (
	     SELECT x.seq, 1 AS n FROM q, LATERAL (
	       SELECT seq FROM messages WHERE conversation_id = $1 AND tenant_id = $2 AND ($3::bigint = 0 OR seq < $3)
	         AND tsv @@ q.tq ORDER BY seq DESC LIMIT $5) x)`
	}
	rows, err := db.pool.Query(ctx, `WITH q AS MATERIALIZED (
	     SELECT i, to_tsquery('english', t) AS tq FROM unnest($4::text[]) WITH ORDINALITY u (t, i)),
	   `+ranked+`,
	   wanted AS (
	     SELECT array_agg(DISTINCT seq + d) AS seqs FROM ranked, generate_series(-$6::int, $6::int) d WHERE n <= $5)
	   SELECT `+messageColumns+` FROM messages WHERE conversation_id = $1 AND tenant_id = $2 AND ($3::bigint = 0 OR seq < $3)
	     AND seq = ANY ((SELECT seqs FROM wanted)::bigint[]) ORDER BY seq DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: search messages: %w", err)
	}
	return collectPage(rows, conversationID, math.MaxInt)
}

package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness(func(t *testing.T) (string, postgres.Options) {
		return pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t)}
	}))
}

// TestConformanceSearchByWord: the same suite with every conversation of
// more than one message searched word by word, the way of long
// conversations (Options.SearchScan).
func TestConformanceSearchByWord(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness(func(t *testing.T) (string, postgres.Options) {
		return pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t), SearchScan: 1}
	}))
}

// TestConformanceThroughPgBouncer: the same suite with every statement
// through PgBouncer in transaction mode, and DirectURL for the sessions a
// pooler cannot give (the migrations' lock, LISTEN).
func TestConformanceThroughPgBouncer(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness(func(t *testing.T) (string, postgres.Options) {
		pooled, direct := pgtest.Pooled(t)
		return pooled, postgres.Options{DirectURL: direct}
	}))
}

func harness(where func(t *testing.T) (string, postgres.Options)) storetest.Harness {
	return storetest.Harness{
		Open: func(t *testing.T) parley.Store {
			url, opts := where(t)
			db, err := postgres.Open(context.Background(), url, opts)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db
		},
		Jobs: func(t *testing.T, st parley.Store, kind, conversationID string) int {
			var n int
			require.NoError(t, st.(*postgres.DB).Pool().QueryRow(context.Background(),
				`SELECT count(*) FROM river_job WHERE kind = $2 AND args->>'conversation_id' = $1`,
				conversationID, kind).Scan(&n))
			return n
		},
		Rows: func(t *testing.T, st parley.Store, table string) int {
			var n int
			require.NoError(t, st.(*postgres.DB).Pool().QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
			return n
		},
	}
}

// replicasOf opens stores on one fresh schema, as replicas on one
// database, each with its hub (nil: none).
func replicasOf(t *testing.T, hubs ...*live.Hub) []*postgres.DB {
	url, schema := pgtest.URL(t), pgtest.Schema(t)
	replicas := make([]*postgres.DB, len(hubs))
	for i, hub := range hubs {
		db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema, Hub: hub})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		replicas[i] = db
	}
	return replicas
}

// conversations makes a tenant, a bot and n conversations of its users.
func conversations(t *testing.T, db *postgres.DB, n int) (tenantID string, ids []string) {
	ctx := context.Background()
	tenant, err := db.EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = db.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	for i := range n {
		c, _, err := db.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: fmt.Sprint("u", i)}, CreateUser: true})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	return tenant.ID, ids
}

// TestJobIndexes: the job table keeps the indexes River's reindexer is
// told of, and only those: the ones Parley never queries are dropped after
// River's migrations, at every start (a second replica opens the same
// schema), and the reindexer is not sent after them.
func TestJobIndexes(t *testing.T) {
	t.Parallel()
	replicas := replicasOf(t, nil, nil)
	rows, err := replicas[1].Pool().Query(context.Background(),
		`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'river_job'`)
	require.NoError(t, err)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	reindexed := store.QueueOptions{Workers: river.NewWorkers()}.RiverConfig(nil, 0, 0).ReindexerIndexNames
	require.ElementsMatch(t, reindexed, indexes)
	for _, name := range store.UnqueriedJobIndexes() {
		require.NotContains(t, indexes, name)
	}
}

// TestReplyContextText: a reply's context is stored as the text encoded
// (migration 00015), once, and read back as it was; the long values
// written at every reply are compressed with lz4 (Debian's PostgreSQL, as
// CI's, is built with it).
func TestReplyContextText(t *testing.T) {
	t.Parallel()
	db := replicasOf(t, nil)[0]
	ctx := context.Background()
	for _, col := range [][2]string{{"reply_contexts", "context_text"}, {"conversations", "summary"}} {
		var method string
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT attcompression FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attname = $2`, col[0], col[1]).Scan(&method))
		require.Equal(t, "l", method, "%s.%s", col[0], col[1])
	}
	tenant, convs := conversations(t, db, 1)
	long := strings.Repeat("a summary long enough to be compressed; ", 200)
	sent := `{"summary": "` + long + `", "tokens":3}` // as encoded, spaces included
	var msg *parley.Message
	for round := range int64(2) {
		_, err := db.AppendMessage(ctx, tenant, convs[0], parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}})
		require.NoError(t, err)
		msg, err = db.StoreReply(ctx, tenant, convs[0], parley.Reply{UptoSeq: 2*round + 1,
			Message: parley.NewMessage{FromBot: true, Text: "hello", Bubbles: []string{"hello"}},
			Summary: long, SummarySeq: 2*round + 1, Context: json.RawMessage(sent)})
		require.NoError(t, err)
	}
	var summary, method string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT summary, pg_column_compression(summary) FROM conversations WHERE id = $1`,
		convs[0]).Scan(&summary, &method))
	require.Equal(t, long, summary)
	require.Equal(t, "lz4", method)
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT pg_column_compression(context_text) FROM reply_contexts
		WHERE conversation_id = $1 AND seq = $2`, convs[0], msg.Seq).Scan(&method))
	require.Equal(t, "lz4", method)
	got, err := db.ReplyContext(ctx, tenant, convs[0], msg.Seq)
	require.NoError(t, err)
	require.Equal(t, sent, string(got), "the text as it was encoded")

	_, err = db.Pool().Exec(ctx, `UPDATE reply_contexts SET context = context_text::jsonb WHERE conversation_id = $1 AND seq = 4`, convs[0])
	require.ErrorContains(t, err, "reply_contexts_one_context", "a context is kept once")
}

// TestGroupsOfTwoReplicas: two stores on one database (two replicas)
// commit groups of appends to the same conversations at once; their row
// locks are taken in conversation order, so no group deadlocks, and every
// append is stored once in a gap-free sequence.
func TestGroupsOfTwoReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	replicas := replicasOf(t, nil, nil)
	tenant, convs := conversations(t, replicas[0], 6)
	const writers, each = 32, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[string][]int64{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := replicas[w%2]
			for i := range each {
				conv := convs[(w*5+i*3)%len(convs)]
				r, err := db.AppendMessage(ctx, tenant, conv, parley.NewMessage{Text: fmt.Sprint(w, "-", i), FromBot: true})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				seqs[conv] = append(seqs[conv], r.Message.Seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, conv := range convs {
		got := seqs[conv]
		slices.Sort(got)
		for i, s := range got {
			require.Equal(t, int64(i+1), s)
		}
		total += len(got)
		msgs, err := replicas[1].ListMessages(ctx, tenant, conv, parley.HistoryQuery{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, msgs, len(got))
	}
	require.Equal(t, writers*each, total)
}

// TestGroupThatFailsRunsEachAlone: a group commit that fails in the
// database (here one append's metadata is not JSON, which only the json
// column finds) runs each of its writes again alone: that append fails,
// the other appends and the reply among them are stored, once each, in
// order, and the conversation's state is what they leave.
func TestGroupThatFailsRunsEachAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := replicasOf(t, nil)[0]
	tenant, ids := conversations(t, db, 1)
	conv := ids[0]
	_, err := db.AppendMessage(ctx, tenant, conv, parley.NewMessage{Text: "first"}) // queues a reply job
	require.NoError(t, err)

	// Another transaction holds the conversation's row: the first write's
	// group waits for it, and the writes that come meanwhile gather into
	// the next group.
	hold, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = hold.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, conv)
	require.NoError(t, err)
	const n, bad, reply = 12, 7, 11 // writes; the bad append; the reply, last: nothing after it sets the state again
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == reply {
				var m *parley.Message
				m, errs[i] = db.StoreReply(ctx, tenant, conv, parley.Reply{UptoSeq: 1,
					Message: parley.NewMessage{FromBot: true, Text: "the reply", Bubbles: []string{"the reply"}}})
				if errs[i] == nil && m == nil {
					errs[i] = errors.New("the reply was not stored")
				}
				return
			}
			nm := parley.NewMessage{Text: fmt.Sprint("m", i), Metadata: json.RawMessage(`{"i":1}`)} // a user message: no event to encode
			if i == bad {
				nm.Metadata = json.RawMessage(`{not json`)
			}
			_, errs[i] = db.AppendMessage(ctx, tenant, conv, nm)
		}()
		if i == 0 || i == reply-1 {
			time.Sleep(100 * time.Millisecond) // the first group has begun, and waits; the reply comes last
		}
	}
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, hold.Commit(ctx))
	wg.Wait()
	for i, err := range errs {
		if i == bad {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err, "write %d", i)
	}
	msgs, err := db.ListMessages(ctx, tenant, conv, parley.HistoryQuery{Limit: 100})
	require.NoError(t, err)
	require.Len(t, msgs, n) // the first, n-1 appends and the reply
	for i, m := range msgs {
		require.Equal(t, int64(i+1), m.Seq)
		require.NotEqual(t, fmt.Sprint("m", bad), m.Text)
	}
	var lastSeq, answered int64
	var queued bool
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT last_seq, answered_seq, reply_queued FROM conversations WHERE id = $1`, conv).
		Scan(&lastSeq, &answered, &queued))
	require.Equal(t, int64(n), lastSeq)
	require.Equal(t, int64(1), answered, "the reply answered the first message")
	require.True(t, queued, "the reply job queued by the first message is still queued: the reply did not end its turn")
}

// TestDeltasReachOtherReplicas: reply pieces published on one replica
// reach that replica's subscribers at once, each once, and another
// replica's in order, joined into fewer deltas (a NOTIFY per batch, not
// per piece), with nothing lost or repeated.
func TestDeltasReachOtherReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hubs := []*live.Hub{live.NewHub(), live.NewHub()}
	replicas := replicasOf(t, hubs...)
	local, stopLocal := hubs[0].Subscribe("c1")
	defer stopLocal()
	remote, stopRemote := hubs[1].Subscribe("c1")
	defer stopRemote()
	time.Sleep(500 * time.Millisecond) // both replicas listen
	var want string
	const pieces = 40
	for i := range pieces {
		piece := fmt.Sprintf("word%d ", i)
		want += piece
		require.NoError(t, replicas[0].PublishDelta(ctx, parley.Delta{ConversationID: "c1", UptoSeq: 3, Text: piece}))
		if i%10 == 9 {
			time.Sleep(80 * time.Millisecond) // a model's pace: several batches
		}
	}
	read := func(ch <-chan live.Signal, until func(got string) bool) (string, int) {
		var got string
		n := 0
		deadline := time.After(5 * time.Second)
		for !until(got) {
			select {
			case sig := <-ch:
				if sig.Delta == nil {
					continue // read the store (the listener connected): not a piece
				}
				require.Equal(t, int64(3), sig.Delta.UptoSeq)
				got += sig.Delta.Text
				n++
			case <-deadline:
				t.Fatalf("deltas so far: %q", got)
			}
		}
		return got, n
	}
	got, n := read(local, func(got string) bool { return len(got) >= len(want) })
	require.Equal(t, want, got)
	require.Equal(t, pieces, n, "this replica's subscribers get every piece as it comes")
	got, n = read(remote, func(got string) bool { return len(got) >= len(want) })
	require.Equal(t, want, got, "the other replica's, in order, once")
	require.Less(t, n, pieces, "joined into batches")
	for deadline := time.After(300 * time.Millisecond); ; {
		select {
		case sig := <-local:
			require.Nil(t, sig.Delta, "a piece came back to its own replica")
			continue
		case <-deadline:
		}
		break
	}
}

// TestEventsReachOtherReplicas: a conversation's new events are told to
// the writing replica's subscribers at once (before any NOTIFY could
// come back), once, and to another replica's through NOTIFY.
func TestEventsReachOtherReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hubs := []*live.Hub{live.NewHub(), live.NewHub()}
	replicas := replicasOf(t, hubs...)
	tenant, err := replicas[0].EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = replicas[0].CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	c, _, err := replicas[0].GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "ana"}, CreateUser: true})
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // both replicas listen
	local, stopLocal := hubs[0].Subscribe(c.ID)
	defer stopLocal()
	remote, stopRemote := hubs[1].Subscribe(c.ID)
	defer stopRemote()

	_, err = replicas[0].AppendMessage(ctx, tenant.ID, c.ID, parley.NewMessage{FromBot: true, Text: "hi", Bubbles: []string{"hi"}})
	require.NoError(t, err)
	select {
	case <-local:
	default:
		t.Fatal("the writing replica's subscriber was not told when the write returned")
	}
	select {
	case <-remote:
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica's subscriber was not told")
	}
	select {
	case <-local:
		t.Fatal("the writing replica's subscriber was told again by its own NOTIFY")
	case <-time.After(300 * time.Millisecond):
	}
}

// TestUnavailable: which errors mean the database cannot be reached (the
// API answers 503 with Retry-After) and which are the request's own.
func TestUnavailable(t *testing.T) {
	var db *postgres.DB // Unavailable reads only its argument
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"the server went away mid-answer", fmt.Errorf("postgres: append: %w", io.ErrUnexpectedEOF), true},
		{"a pooled connection the server ended", fmt.Errorf("postgres: append: %w", pgconn.ErrConnClosed), true},
		{"administrator shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"a unique violation is the request's", &pgconn.PgError{Code: "23505"}, false},
		{"a bug is a 500", errors.New("boom"), false},
		{"a not-found is the request's", parley.Errorf(parley.ENOTFOUND, "no such conversation"), false},
	} {
		assert.Equal(t, tc.want, db.Unavailable(tc.err), tc.name)
	}
}

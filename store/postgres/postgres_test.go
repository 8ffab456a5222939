package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness(func(t *testing.T) (string, postgres.Options) {
		return pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t)}
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
	}
}

// TestGroupsOfTwoReplicas: two stores on one database (two replicas)
// commit groups of appends to the same conversations at once; their row
// locks are taken in conversation order, so no group deadlocks, and every
// append is stored once in a gap-free sequence.
func TestGroupsOfTwoReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := pgtest.URL(t), pgtest.Schema(t)
	replicas := make([]*postgres.DB, 2)
	for i := range replicas {
		db, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		replicas[i] = db
	}
	tenant, err := replicas[0].EnsureTenant(ctx, "t")
	require.NoError(t, err)
	_, err = replicas[0].CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	convs := make([]string, 6)
	for i := range convs {
		c, _, err := replicas[0].GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: fmt.Sprint("u", i)}, CreateUser: true})
		require.NoError(t, err)
		convs[i] = c.ID
	}
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
				r, err := db.AppendMessage(ctx, tenant.ID, conv, parley.NewMessage{Text: fmt.Sprint(w, "-", i), FromBot: true})
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
		msgs, err := replicas[1].ListMessages(ctx, tenant.ID, conv, parley.HistoryQuery{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, msgs, len(got))
	}
	require.Equal(t, writers*each, total)
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

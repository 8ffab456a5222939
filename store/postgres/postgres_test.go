package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) parley.Store {
			db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Schema: pgtest.Schema(t)})
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
	})
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

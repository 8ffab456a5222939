package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestStoreMemoriesTwice: two jobs storing the facts of the same messages
// at once (the conversation's row is not locked while they work) store
// them once: the one that advances memories_seq second stores nothing,
// or fails on the first's key and is retried by its job, which then finds
// the messages read.
func TestStoreMemoriesTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	name := parley.Fact{Kind: parley.KindName, Key: "name", Text: "Name: Ana", Confidence: 0.9, SourceSeqs: []int64{1}}
	for upto := int64(1); upto <= 20; upto++ {
		var wg sync.WaitGroup
		stored := make([][]parley.Memory, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stored[i], errs[i] = db.StoreMemories(ctx, tenant.ID, c.ID, upto, []parley.Fact{name})
			}()
		}
		wg.Wait()
		require.False(t, errs[0] != nil && errs[1] != nil, "one of the two stores: %v", errs)
		require.Equal(t, 1, len(stored[0])+len(stored[1]), "the facts stored once")
		again, err := db.StoreMemories(ctx, tenant.ID, c.ID, upto, []parley.Fact{name})
		require.NoError(t, err, "a retry finds the messages read")
		require.Empty(t, again)
	}
	mems, err := db.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: c.BotID, UserID: c.UserID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, mems, 1)
	require.Equal(t, 20, mems[0].Confirmations, "confirmed once per job's messages, never twice")
}

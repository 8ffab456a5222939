package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/store"
)

// TestGroup: writers that come while a group commits wait and are
// committed together, at most Max at a time, each with its own outcome;
// Close waits for the groups begun and refuses later writers.
func TestGroup(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int
	first, release := make(chan struct{}), make(chan struct{})
	g := &store.Group[int]{Max: 4}
	g.Commit = func(batch []*store.GroupOp[int]) []error {
		if batch[0].Item == 0 {
			close(first)
			<-release // the first group holds on while the others queue
		}
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		errs := make([]error, len(batch))
		for i, op := range batch {
			if op.Item%3 == 0 && op.Item > 0 {
				errs[i] = errors.New("refused")
			}
		}
		return errs
	}
	ctx := context.Background()
	results := make([]error, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0] = g.Do(ctx, 0) }()
	<-first
	for i := 1; i < len(results); i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = g.Do(ctx, i) }()
	}
	require.Eventually(t, func() bool { return g.Waiting() == 9 }, 5*time.Second, time.Millisecond)
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	require.Eventually(t, g.Closed, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, g.Do(ctx, 99), store.ErrClosed, "a writer after Close is refused")
	select {
	case <-closed:
		t.Fatal("Close returned while a group was being committed")
	default:
	}
	close(release)
	wg.Wait()
	<-closed
	require.Equal(t, []int{1, 4, 4, 1}, sizes, "the nine waiting went in groups of at most Max, oldest first")
	for i, err := range results {
		if i%3 == 0 && i > 0 {
			require.EqualError(t, err, "refused", "writer %d", i)
		} else {
			require.NoError(t, err, "writer %d", i)
		}
	}
	require.ErrorIs(t, (&store.Group[int]{}).Do(canceled(), 1), context.Canceled, "an ended context is not queued")
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

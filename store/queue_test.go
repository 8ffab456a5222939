package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestRiverConfig(t *testing.T) {
	t.Parallel()
	insertOnly := QueueOptions{}.RiverConfig(nil, time.Millisecond, 0)
	require.Nil(t, insertOnly.Queues, "no workers, no queues: insert-only")

	w := river.NewWorkers()
	for _, poll := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, time.Second} {
		cfg := QueueOptions{Workers: w, JobTimeout: time.Minute}.RiverConfig(nil, poll, 0)
		require.Equal(t, 100, cfg.Queues[river.QueueDefault].MaxWorkers)
		require.Equal(t, 100, cfg.Queues[parley.DeliveryQueue].MaxWorkers, "deliveries run in a queue of their own")
		require.Equal(t, time.Minute+5*time.Second, cfg.RescueStuckJobsAfter)
		require.Equal(t, time.Hour, cfg.CompletedJobRetentionPeriod, "completed jobs go after an hour, not River's day")
		require.Zero(t, cfg.DiscardedJobRetentionPeriod, "jobs that failed for good keep River's default")
		if poll > 0 {
			require.Equal(t, poll, cfg.FetchPollInterval)
			require.LessOrEqual(t, cfg.FetchCooldown, cfg.FetchPollInterval, "River refuses a cooldown longer than the poll")
		}
	}
	cfg := QueueOptions{Workers: w, Concurrency: 3, DeliveryConcurrency: 7, RescueAfter: time.Hour}.RiverConfig(nil, 0, 0)
	require.Equal(t, 3, cfg.Queues[river.QueueDefault].MaxWorkers)
	require.Equal(t, 7, cfg.Queues[parley.DeliveryQueue].MaxWorkers)
	require.Equal(t, time.Hour, cfg.RescueStuckJobsAfter)
	require.Equal(t, 2*time.Minute, cfg.JobTimeout)
	require.Equal(t, 20*time.Millisecond, cfg.FetchCooldown)
	cfg = QueueOptions{Workers: w}.RiverConfig(nil, 20*time.Millisecond, 5*time.Millisecond)
	require.Equal(t, 5*time.Millisecond, cfg.FetchCooldown, "a cooldown given is kept")
	require.Contains(t, cfg.ReindexerIndexNames, "river_job_prioritized_fetching_index", "the indexes kept are rebuilt")
	for _, name := range UnqueriedJobIndexes() {
		require.NotContains(t, cfg.ReindexerIndexNames, name, "the indexes dropped are not")
	}
}

// newKickedListener is a kicked listener over a blocking one.
func newKickedListener() (*kickedListener, *blockingListener, *Kicker) {
	inner := &blockingListener{waits: make(chan struct{}, 4), ended: make(chan struct{}, 4)}
	k := NewKicker()
	return &kickedListener{Listener: inner, kicker: k}, inner, k
}

// blockingListener is River's listener with nothing to say: it waits for
// its context, and records that it did.
type blockingListener struct {
	riverdriver.Listener
	waits, ended chan struct{}
}

func (l *blockingListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	l.waits <- struct{}{}
	<-ctx.Done()
	l.ended <- struct{}{}
	return nil, ctx.Err()
}

// TestKickedListener: a kick is answered at once with River's insert
// notification for each kicked queue, while River's own wait runs on; the
// end of the context ends both, and no wait outlives it.
func TestKickedListener(t *testing.T) {
	t.Parallel()
	l, inner, k := newKickedListener()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	queueOf := func(n *riverdriver.Notification) string {
		require.Equal(t, "river_insert", n.Topic)
		var p struct {
			Queue string `json:"queue"`
		}
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &p))
		return p.Queue
	}
	got := make(chan *riverdriver.Notification)
	wait := func() {
		go func() {
			n, err := l.WaitForNotification(ctx)
			if err != nil {
				n = nil
			}
			got <- n
		}()
	}
	wait()
	<-inner.waits // River's own wait is running
	k.Kick([]string{"deliveries", "default", "deliveries"})
	first := <-got
	wait()
	second := <-got
	require.ElementsMatch(t, []string{"deliveries", "default"}, []string{queueOf(first), queueOf(second)})
	require.Len(t, inner.waits, 0, "the running inner wait is reused, not doubled")

	wait()
	select {
	case n := <-got:
		t.Fatalf("nothing was kicked, got %v", n)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.Nil(t, <-got)
	select {
	case <-inner.ended:
	default:
		t.Fatal("the inner wait must have ended before the call returned")
	}
}

// TestKickedListenerNewContext: River may stop calling after a kick
// answered, cancel that context, and call again with a new one later: the
// earlier inner wait's end is not this call's.
func TestKickedListenerNewContext(t *testing.T) {
	t.Parallel()
	l, inner, k := newKickedListener()

	first, cancelFirst := context.WithCancel(context.Background())
	answered := make(chan *riverdriver.Notification, 1)
	go func() {
		n, _ := l.WaitForNotification(first)
		answered <- n
	}()
	<-inner.waits // the inner wait runs with the first context
	k.Kick([]string{"default"})
	require.Equal(t, "river_insert", (<-answered).Topic)
	cancelFirst() // River is done with this context, without calling again
	<-inner.ended

	second, cancelSecond := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := l.WaitForNotification(second)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the first context's end came back to the second call: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancelSecond()
	require.ErrorIs(t, <-got, context.Canceled)
}

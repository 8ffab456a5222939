package sqlite

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/stretchr/testify/require"
)

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
	inner := &blockingListener{waits: make(chan struct{}, 4), ended: make(chan struct{}, 4)}
	k := newKicker()
	l := &kickedListener{Listener: inner, kicker: k}
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
	k.kick([]string{"deliveries", "default", "deliveries"})
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

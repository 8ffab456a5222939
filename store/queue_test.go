package store

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
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
		require.Equal(t, 20, cfg.Queues[river.QueueDefault].MaxWorkers)
		require.Equal(t, 100, cfg.Queues[parley.DeliveryQueue].MaxWorkers, "deliveries run in a queue of their own")
		require.Equal(t, time.Minute+5*time.Second, cfg.RescueStuckJobsAfter)
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
}

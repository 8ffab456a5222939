package webhook

import (
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley"
	"github.com/stretchr/testify/require"
)

// The Standard Webhooks specification's published test vector.
func TestSignVector(t *testing.T) {
	t.Parallel()
	sig, err := Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
}

func TestSignRotation(t *testing.T) {
	t.Parallel()
	old, cur := parley.NewWebhookSecret(), parley.NewWebhookSecret()
	now := time.Now()
	body := []byte(`{"type":"message.created"}`)
	sig, err := Sign([]string{cur, old}, "msg_1", now, body)
	require.NoError(t, err)
	ts := now.Unix()
	for _, s := range []string{old, cur} {
		require.NoError(t, Verify(s, "msg_1", itoa(ts), sig, body, 5*time.Minute, now), "both secrets verify during the overlap")
	}
	require.Error(t, Verify(parley.NewWebhookSecret(), "msg_1", itoa(ts), sig, body, 5*time.Minute, now))
	require.Error(t, Verify(cur, "msg_2", itoa(ts), sig, body, 5*time.Minute, now), "the id is signed")
	require.Error(t, Verify(cur, "msg_1", itoa(ts), sig, []byte(`{}`), 5*time.Minute, now), "the body is signed")
	require.Error(t, Verify(cur, "msg_1", itoa(ts), sig, body, 5*time.Minute, now.Add(10*time.Minute)), "replays are refused")
	_, err = Sign([]string{"whsec_short"}, "msg_1", now, body)
	require.Error(t, err)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestScheduleMatchesAttempts(t *testing.T) {
	require.Equal(t, parley.DeliveryAttempts, len(Schedule)+1, "jobs are queued with MaxAttempts parley.DeliveryAttempts")
}

package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/internal/enginetest"
	storepkg "github.com/parley-chat/parley/store"
	"github.com/parley-chat/parley/webhook"
)

// receiver is a webhook endpoint on loopback that answers from a script
// and records what it got.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	script   []func(w http.ResponseWriter)
	received []hit
}

type hit struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	At      time.Time         `json:"-"`
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.received = append(r.received, hit{Headers: map[string]string{"webhook-id": req.Header.Get("webhook-id"),
			"webhook-timestamp": req.Header.Get("webhook-timestamp"), "webhook-signature": req.Header.Get("webhook-signature")},
			Body: string(b), At: time.Now()})
		var step func(w http.ResponseWriter)
		if len(r.script) > 0 {
			step, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		if step != nil {
			step(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) then(steps ...func(w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, steps...)
}

func (r *receiver) hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.received...)
}

func status(code int, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
	}
}

type testBundle struct {
	st     parley.Store
	tenant string
	ctx    context.Context
	recv   *receiver
}

// engines runs fn on each store with a delivery worker; allowPrivate lets it
// reach the loopback receiver.
func engines(t *testing.T, allowPrivate bool, fn func(t *testing.T, b *testBundle)) {
	enginetest.Run(t, func(t *testing.T, engine string) {
		workers := river.NewWorkers()
		st := enginetest.Open(t, engine, enginetest.Options{Queue: storepkg.QueueOptions{Workers: workers}})
		// Replies are stored by the tests themselves (StoreReply); the
		// queue needs a worker of their kind to accept their jobs.
		river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[parley.ReplyJob]) error { return nil }))
		river.AddWorker(workers, &webhook.Worker{Store: st, Schedule: []time.Duration{50 * time.Millisecond},
			Client: egress.NewClient(egress.Options{AllowPrivate: allowPrivate, Timeout: 5 * time.Second})})
		require.NoError(t, st.StartWorkers(context.Background()))
		tenant, err := st.EnsureTenant(context.Background(), "t")
		require.NoError(t, err)
		fn(t, &testBundle{st: st, tenant: tenant.ID, ctx: context.Background(), recv: newReceiver(t)})
	})
}

// conversation makes a conversation whose webhook is the receiver: its
// conversation.created event is the first delivery.
func (b *testBundle) conversation(t *testing.T, user, path string) string {
	if _, err := b.st.CreateBot(b.ctx, b.tenant, &parley.Bot{ID: "bot"}); err != nil {
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
	}
	c, _, err := b.st.GetOrCreateConversation(b.ctx, b.tenant, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: user}, CreateUser: true, Webhook: b.recv.URL + path})
	require.NoError(t, err)
	return c.ID
}

func (b *testBundle) delivery(t *testing.T, conv string, want func(d parley.Delivery) bool) parley.Delivery {
	var found parley.Delivery
	require.Eventually(t, func() bool {
		ds, err := b.st.ListDeliveries(b.ctx, b.tenant, parley.DeliveryFilter{ConversationID: conv, Limit: 50})
		require.NoError(t, err)
		for _, d := range ds {
			if want(d) {
				found = d
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond)
	return found
}

func TestDelivered(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, "u", "/hook")
		_, err := b.st.AppendMessage(b.ctx, b.tenant, conv, parley.NewMessage{FromBot: true, Text: "operator here", Bubbles: []string{"operator here"}})
		require.NoError(t, err)
		d := b.delivery(t, conv, func(d parley.Delivery) bool {
			return d.EventType == parley.EventMessageCreated && d.Status == parley.DeliveryDelivered
		})
		require.Len(t, d.AttemptLog, 1)
		require.Equal(t, 204, d.AttemptLog[0].StatusCode)
		require.True(t, strings.HasPrefix(d.ID, "msg_"))

		secrets, err := b.st.WebhookSecrets(b.ctx, b.tenant)
		require.NoError(t, err)
		require.Len(t, secrets, 1, "the tenant's first secret was made on first use")
		got := b.recv.hit(d.ID)
		require.NoError(t, webhook.Verify(secrets[0].Secret, got.Headers["webhook-id"], got.Headers["webhook-timestamp"],
			got.Headers["webhook-signature"], []byte(got.Body), 5*time.Minute, time.Now()))
		payload := got.payload(t)
		require.Equal(t, parley.EventMessageCreated, payload.Type)
		require.Equal(t, conv, payload.Data.ConversationID)
		require.Equal(t, "bot", payload.Data.BotID)
		require.Equal(t, "u", payload.Data.UserID)
		require.Equal(t, "operator here", payload.Data.Message.Text)

		// The reference verifier agrees.
		if dir := os.Getenv("STANDARDWEBHOOKS_DIR"); dir != "" {
			in, _ := json.Marshal(map[string]any{"secret": secrets[0].Secret, "deliveries": b.recv.hits()})
			cmd := exec.Command("node", "testdata/verify.js")
			cmd.Env = append(os.Environ(), "STANDARDWEBHOOKS_DIR="+dir)
			cmd.Stdin = strings.NewReader(string(in))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			require.Contains(t, string(out), "verified")
		} else if os.Getenv("CI") != "" {
			t.Fatal("STANDARDWEBHOOKS_DIR is not set on CI")
		}

		// Replay: the same webhook-id again.
		_, err = b.st.ReplayDelivery(b.ctx, b.tenant, d.ID)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			n := 0
			for _, h := range b.recv.hits() {
				if h.Headers["webhook-id"] == d.ID {
					n++
				}
			}
			return n == 2
		}, 10*time.Second, 20*time.Millisecond)
		_, err = b.st.ReplayDelivery(b.ctx, "another-tenant", d.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

// hit returns the last request that carried webhook-id id.
func (r *receiver) hit(id string) hit {
	var got hit
	for _, h := range r.hits() {
		if h.Headers["webhook-id"] == id {
			got = h
		}
	}
	return got
}

type messagePayload struct {
	Type string `json:"type"`
	Data struct {
		ConversationID string         `json:"conversation_id"`
		BotID          string         `json:"bot_id"`
		UserID         string         `json:"user_id"`
		Message        parley.Message `json:"message"`
	} `json:"data"`
}

func (h hit) payload(t *testing.T) messagePayload {
	var p messagePayload
	require.NoError(t, json.Unmarshal([]byte(h.Body), &p), h.Body)
	return p
}

// TestReplyDelivered: a stored bot reply is delivered like any bot
// message, naming its bot and user; none is queued for a disabled
// endpoint.
func TestReplyDelivered(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		answer := func(conv, text string) {
			user, err := b.st.AppendMessage(b.ctx, b.tenant, conv, parley.NewMessage{Text: "hi", Bubbles: []string{"hi"}})
			require.NoError(t, err)
			m, err := b.st.StoreReply(b.ctx, b.tenant, conv, parley.Reply{UptoSeq: user.Message.Seq,
				Message: parley.NewMessage{FromBot: true, Text: text, Bubbles: []string{text}}})
			require.NoError(t, err)
			require.NotNil(t, m)
		}
		conv := b.conversation(t, "u", "/hook")
		answer(conv, "hello")
		d := b.delivery(t, conv, func(d parley.Delivery) bool {
			return d.EventType == parley.EventMessageCreated && d.Status == parley.DeliveryDelivered
		})
		payload := b.recv.hit(d.ID).payload(t)
		require.Equal(t, conv, payload.Data.ConversationID)
		require.Equal(t, "bot", payload.Data.BotID)
		require.Equal(t, "u", payload.Data.UserID)
		require.Equal(t, "hello", payload.Data.Message.Text)
		require.True(t, payload.Data.Message.FromBot)

		b.recv.then(status(410))
		gone := b.conversation(t, "u2", "/gone")
		b.delivery(t, gone, func(d parley.Delivery) bool { return d.Status == parley.DeliveryDisabled })
		answer(gone, "nobody hears this")
		ds, err := b.st.ListDeliveries(b.ctx, b.tenant, parley.DeliveryFilter{ConversationID: gone, Limit: 10})
		require.NoError(t, err)
		var types []string
		for _, d := range ds {
			types = append(types, d.EventType)
		}
		require.Equal(t, []string{parley.EventConversationCreated}, types, "only the delivery that found the endpoint gone")
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		b.recv.then(status(500), status(302, "Location", "http://127.0.0.1:1/elsewhere"), status(503, "Retry-After", "1"))
		conv := b.conversation(t, "u", "/retry")
		d := b.delivery(t, conv, func(d parley.Delivery) bool { return d.Status == parley.DeliveryDelivered })
		require.Len(t, d.AttemptLog, 4)
		require.Equal(t, []int{500, 302, 503, 204}, []int{d.AttemptLog[0].StatusCode, d.AttemptLog[1].StatusCode,
			d.AttemptLog[2].StatusCode, d.AttemptLog[3].StatusCode})
		require.Contains(t, d.AttemptLog[1].Error, "not followed", "3xx is a failure")
		hits := b.recv.hits()
		require.Len(t, hits, 4)
		for _, h := range hits {
			require.Equal(t, d.ID, h.Headers["webhook-id"], "the same webhook-id on every retry")
		}
		require.GreaterOrEqual(t, hits[3].At.Sub(hits[2].At), 900*time.Millisecond, "Retry-After is honoured")
	})
}

func TestGoneDisables(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		b.recv.then(status(410))
		conv := b.conversation(t, "u1", "/gone")
		d := b.delivery(t, conv, func(d parley.Delivery) bool { return d.Status == parley.DeliveryDisabled })
		require.Len(t, d.AttemptLog, 1)
		other := b.conversation(t, "u2", "/gone")
		_, err := b.st.AppendMessage(b.ctx, b.tenant, other, parley.NewMessage{FromBot: true, Text: "x", Bubbles: []string{"x"}})
		require.NoError(t, err)
		time.Sleep(300 * time.Millisecond)
		ds, err := b.st.ListDeliveries(b.ctx, b.tenant, parley.DeliveryFilter{ConversationID: other, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, ds, "nothing more is queued for a disabled endpoint")
		require.Len(t, b.recv.hits(), 1)
	})
}

func TestGivesUp(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		steps := make([]func(http.ResponseWriter), parley.DeliveryAttempts)
		for i := range steps {
			steps[i] = status(500)
		}
		b.recv.then(steps...)
		conv := b.conversation(t, "u", "/down")
		d := b.delivery(t, conv, func(d parley.Delivery) bool { return d.Status == parley.DeliveryFailed })
		require.Len(t, d.AttemptLog, parley.DeliveryAttempts)
		require.Equal(t, "HTTP 500", d.LastError)
	})
}

func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	engines(t, false, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, "u", "/hook")
		d := b.delivery(t, conv, func(d parley.Delivery) bool { return d.Status == parley.DeliveryFailed })
		require.Len(t, d.AttemptLog, 1, "not retried: the address will not become allowed")
		require.Contains(t, d.LastError, "not allowed")
		require.Empty(t, b.recv.hits())
	})
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	engines(t, true, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, "u", "/hook")
		b.delivery(t, conv, func(d parley.Delivery) bool { return d.Status == parley.DeliveryDelivered })
		old, err := b.st.WebhookSecrets(b.ctx, b.tenant)
		require.NoError(t, err)
		cur, err := b.st.RotateWebhookSecret(b.ctx, b.tenant, "", time.Hour)
		require.NoError(t, err)
		_, err = b.st.RotateWebhookSecret(b.ctx, b.tenant, "whsec_nope", time.Hour)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		_, err = b.st.AppendMessage(b.ctx, b.tenant, conv, parley.NewMessage{FromBot: true, Text: "x", Bubbles: []string{"x"}})
		require.NoError(t, err)
		d := b.delivery(t, conv, func(d parley.Delivery) bool {
			return d.EventType == parley.EventMessageCreated && d.Status == parley.DeliveryDelivered
		})
		var got hit
		for _, h := range b.recv.hits() {
			if h.Headers["webhook-id"] == d.ID {
				got = h
			}
		}
		require.Len(t, strings.Fields(got.Headers["webhook-signature"]), 2, "old and new both sign during the overlap")
		for _, s := range []string{old[0].Secret, cur.Secret} {
			require.NoError(t, webhook.Verify(s, got.Headers["webhook-id"], got.Headers["webhook-timestamp"],
				got.Headers["webhook-signature"], []byte(got.Body), time.Minute, time.Now()))
		}
		list, err := b.st.WebhookSecrets(b.ctx, b.tenant)
		require.NoError(t, err)
		require.Equal(t, cur.ID, list[0].ID, "the newest is current")
		require.NotNil(t, list[1].ExpiresAt)

		_, err = b.st.RotateWebhookSecret(b.ctx, b.tenant, "", 0)
		require.NoError(t, err)
		list, err = b.st.WebhookSecrets(b.ctx, b.tenant)
		require.NoError(t, err)
		require.Len(t, list, 1, "without overlap only the new one signs")
	})
}

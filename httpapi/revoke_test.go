package httpapi_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/live"
)

// TestRevocationEndsLongRequests: revoking a token ends its open event
// streams and its waits for a reply: at once through the API of this
// replica, and after the auth cache's lifetime when another replica (here:
// the store directly) revoked it.
func TestRevocationEndsLongRequests(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, b.admin, "bot-1", "user-1")
		newToken := func() (secret, id string) {
			res := b.do(t, b.admin, "POST", "/api/tokens", map[string]any{"name": "short-lived"})
			require.Equal(t, 201, res.status, res.raw)
			return res.body["secret"].(string), res.body["token"].(map[string]any)["id"].(string)
		}
		ended := func(s *stream, within time.Duration) {
			t.Helper()
			deadline := time.After(within)
			for {
				select {
				case _, ok := <-s.events:
					if !ok {
						return
					}
				case <-deadline:
					t.Fatalf("the stream of a revoked token is still open after %s", within)
				}
			}
		}

		secret, id := newToken()
		s, status := b.stream(t, secret, "/api/conversations/"+conv+"/events")
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", s.next(t)["event"])
		waited := make(chan response, 1)
		go func() {
			waited <- b.do(t, secret, "POST", "/api/conversations/"+conv+"/messages?wait=30s",
				map[string]any{"message": map[string]any{"text": "anyone?"}})
		}()
		time.Sleep(200 * time.Millisecond) // the wait has begun (no worker: no reply comes)
		require.Equal(t, 204, b.do(t, b.admin, "DELETE", "/api/tokens/"+id, nil).status)
		ended(s, 3*time.Second)
		select {
		case res := <-waited:
			require.Equal(t, 401, res.status, res.raw)
		case <-time.After(3 * time.Second):
			t.Fatal("the wait of a revoked token goes on")
		}

		// Revoked elsewhere: this replica's cache still holds the token for
		// its lifetime (5 s), then the stream ends.
		secret, id = newToken()
		s, status = b.stream(t, secret, "/api/conversations/"+conv+"/events")
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", s.next(t)["event"])
		require.NoError(t, b.store.DeleteToken(context.Background(), b.tenant, id))
		ended(s, 10*time.Second)

		// A token that stands keeps its stream.
		s, status = b.stream(t, b.user, "/api/conversations/"+conv+"/events")
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", s.next(t)["event"])
		select {
		case _, ok := <-s.events:
			require.True(t, ok, "a standing token's stream ended")
		case <-time.After(2500 * time.Millisecond):
		}
	})
}

// TestBearerSchemeIsCaseInsensitive (RFC 9110 section 11.1).
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			res := b.do(t, "", "GET", "/api/bots", nil, "Authorization", scheme+" "+b.admin)
			require.Equal(t, 200, res.status, scheme)
		}
		for _, h := range []string{"Basic " + b.admin, "Bearer", "Bearer ", b.admin} {
			res := b.do(t, "", "GET", "/api/bots", nil, "Authorization", h)
			require.Equal(t, 401, res.status, h)
			require.Equal(t, "header.Authorization", problemField(res))
		}
	})
}

// TestDrainEndsLongRequests: a server shutting down (Drain, registered with
// http.Server.RegisterOnShutdown) closes its event streams, telling
// clients to reconnect soon, and answers its waits for a reply as pending,
// rather than holding the shutdown until they end.
func TestDrainEndsLongRequests(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		conv := b.conversation(t, b.admin, "bot-1", "user-1")
		s, status := b.stream(t, b.user, "/api/conversations/"+conv+"/events")
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", s.next(t)["event"])
		waited := make(chan response, 1)
		go func() {
			waited <- b.do(t, b.user, "POST", "/api/conversations/"+conv+"/messages?wait=30s",
				map[string]any{"message": map[string]any{"text": "anyone?"}})
		}()
		time.Sleep(300 * time.Millisecond) // the wait has begun (no worker: no reply comes)
		b.api.Drain()
		select {
		case res := <-waited:
			require.Equal(t, 201, res.status, res.raw)
			require.Equal(t, "pending", res.body["reply_status"])
		case <-time.After(3 * time.Second):
			t.Fatal("a wait goes on while the server drains")
		}
		require.Equal(t, "250", s.next(t)["retry"], "the stream tells the client to reconnect soon")
		_, open := <-s.events
		require.False(t, open, "the stream ends")
	})
}

// slowEvents is a store whose event reads, once held, wait for their
// context to end: a read of the store in flight when the server drains.
type slowEvents struct {
	httpapi.Store
	held atomic.Bool
	in   chan struct{} // a held read has begun
}

func (s *slowEvents) ListEvents(ctx context.Context, tenantID, conversationID string, afterID int64, limit int) ([]parley.Event, error) {
	if !s.held.Load() {
		return s.Store.ListEvents(ctx, tenantID, conversationID, afterID, limit)
	}
	select {
	case s.in <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestDrainDuringARead: a stream whose read of the store is cut short by
// the server's draining still tells the client to reconnect soon.
func TestDrainDuringARead(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T, engine string) {
		hub := live.NewHub()
		st := &slowEvents{Store: enginetest.Open(t, engine, enginetest.Options{Hub: hub}), in: make(chan struct{}, 1)}
		b := setup(t, st, hub)
		conv := b.conversation(t, b.admin, "bot-1", "user-1")
		s, status := b.stream(t, b.user, "/api/conversations/"+conv+"/events")
		require.Equal(t, 200, status)
		require.Equal(t, "conversation.created", s.next(t)["event"])
		st.held.Store(true)
		hub.Notify(conv) // the stream reads the store, and waits there
		select {
		case <-st.in:
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not read the store")
		}
		b.api.Drain()
		require.Equal(t, "250", s.next(t)["retry"], "the stream tells the client to reconnect soon")
		_, open := <-s.events
		require.False(t, open, "the stream ends")
	})
}

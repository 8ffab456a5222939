package client_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/live"
)

// TestClient runs the client against the real API on a real store.
func TestClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hub := live.NewHub()
	st := enginetest.Open(t, enginetest.SQLite, enginetest.Options{Hub: hub})
	tenant, err := st.EnsureTenant(ctx, "default")
	require.NoError(t, err)
	secret, hash := parley.NewToken()
	_, err = st.CreateToken(ctx, tenant.ID, "t", true, hash)
	require.NoError(t, err)
	_, err = st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"})
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: st, DefaultTenantID: tenant.ID, Hub: hub}))
	t.Cleanup(srv.Close)
	c := &client.Client{BaseURL: srv.URL + "/", Token: secret}

	conv, err := c.Conversation(ctx, "bot", "ana")
	require.NoError(t, err)
	again, err := c.Conversation(ctx, "bot", "ana")
	require.NoError(t, err)
	require.Equal(t, conv.ID, again.ID)
	for _, text := range []string{"one", "two", "three"} {
		_, err := c.Send(ctx, conv.ID, text, true) // the bot side: no reply, an event each
		require.NoError(t, err)
	}
	latest, err := c.Latest(ctx, conv.ID, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"two", "three"}, []string{latest[0].Text, latest[1].Text}, "the newest, oldest first")

	evCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []string
	last, err := c.Events(evCtx, conv.ID, 0, func(ev client.Event) {
		if ev.Type != parley.EventMessageCreated {
			require.Nil(t, ev.Message, ev.Type)
			return // conversation.created first
		}
		got = append(got, ev.Message.Text)
		if len(got) == 3 {
			cancel()
		}
	})
	require.NoError(t, err)
	require.Equal(t, []string{"one", "two", "three"}, got)
	require.Positive(t, last)

	_, err = c.Send(ctx, conv.ID, "", false)
	var apiErr *client.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, 422, apiErr.Status)
	require.Equal(t, "body.message.text", apiErr.Location)
	_, err = (&client.Client{BaseURL: srv.URL, Token: "prly_wrong"}).Conversation(ctx, "bot", "ana")
	require.True(t, errors.As(err, &apiErr))
	require.Equal(t, 401, apiErr.Status)
}

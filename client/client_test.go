package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/enginetest"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/reply"
	"github.com/parley-chat/parley/store"
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

// TestClientCalls runs the rest of the client's calls against a server
// whose replies are made by the built-in responder on the real queue.
func TestClientCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hub := live.NewHub()
	workers := river.NewWorkers()
	st := enginetest.Open(t, enginetest.SQLite, enginetest.Options{Hub: hub, Queue: store.QueueOptions{Workers: workers}})
	river.AddWorker(workers, &reply.Worker{Store: st, Providers: &reply.Providers{}})
	require.NoError(t, st.StartWorkers(ctx))
	tenant, err := st.EnsureTenant(ctx, "default")
	require.NoError(t, err)
	secret, hash := parley.NewToken()
	_, err = st.CreateToken(ctx, tenant.ID, "t", true, hash)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: st, DefaultTenantID: tenant.ID, Hub: hub}))
	t.Cleanup(srv.Close)
	c := &client.Client{BaseURL: srv.URL, Token: secret}
	require.NoError(t, c.WaitReady(ctx, 10*time.Millisecond))

	for _, id := range []string{"bot-a", "bot-b", "bot-c"} {
		b, err := c.CreateBot(ctx, client.Bot{ID: id, Name: "Name " + id, Reply: &parley.ReplySettings{DebounceMS: new(0)}})
		require.NoError(t, err)
		require.Equal(t, "Name "+id, b.Name)
	}
	_, err = c.CreateBot(ctx, client.Bot{ID: "bot-a"})
	var apiErr *client.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, 409, apiErr.Status)
	first, cursor, err := c.Bots(ctx, "", 2)
	require.NoError(t, err)
	require.Len(t, first, 2)
	require.NotEmpty(t, cursor)
	rest, cursor, err := c.Bots(ctx, cursor, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"bot-a", "bot-b", "bot-c"}, []string{first[0].ID, first[1].ID, rest[0].ID})
	require.Empty(t, cursor)

	conv, err := c.Conversation(ctx, "bot-a", "ana")
	require.NoError(t, err)
	sent, err := c.SendAndWait(ctx, conv.ID, "hello, my name is Ana", 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "replied", sent.ReplyStatus)
	require.True(t, sent.Reply.FromBot)
	require.Equal(t, sent.Message.Seq+1, sent.Reply.Seq)
	for i := range 5 {
		_, err := c.Send(ctx, conv.ID, fmt.Sprintf("note %d about zebras", i), true)
		require.NoError(t, err)
	}
	page, err := c.Messages(ctx, conv.ID, client.HistoryQuery{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3}, []int64{page.Messages[0].Seq, page.Messages[1].Seq, page.Messages[2].Seq})
	require.NotEmpty(t, page.NextCursor)
	next, err := c.Messages(ctx, conv.ID, client.HistoryQuery{Limit: 3, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Equal(t, int64(4), next.Messages[0].Seq)
	desc, err := c.Messages(ctx, conv.ID, client.HistoryQuery{Limit: 1, Desc: true})
	require.NoError(t, err)
	require.Equal(t, "note 4 about zebras", desc.Messages[0].Text)

	other, err := c.Conversation(ctx, "bot-b", "ben")
	require.NoError(t, err)
	_, err = c.Send(ctx, other.ID, "nothing striped here", true)
	require.NoError(t, err)
	if ix, ok := st.(interface {
		IndexPending(context.Context) (int, error)
	}); ok {
		for n := 1; n > 0; {
			n, err = ix.IndexPending(ctx)
			require.NoError(t, err)
		}
	}
	found, _, err := c.Conversations(ctx, client.ConversationQuery{Q: "zebras"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, conv.ID, found[0].ID)
	byBot, _, err := c.Conversations(ctx, client.ConversationQuery{BotID: "bot-b"})
	require.NoError(t, err)
	require.Len(t, byBot, 1)
	require.Equal(t, other.ID, byBot[0].ID)

	// V1: the whole history each call, the reply and its V3 view back.
	v1, err := c.Complete(ctx, client.V1Request{ConversationID: "v1-chat", BotID: "bot-c", UserID: "carla", Message: "hi there"})
	require.NoError(t, err)
	require.True(t, v1.Bot)
	require.NotEmpty(t, v1.Content)
	require.NotEmpty(t, v1.ConversationID)
	require.Equal(t, v1.ReplyID, v1.Reply.ID)
	again, err := c.Complete(ctx, client.V1Request{ConversationID: "v1-chat", BotID: "bot-c", UserID: "carla", Message: "and again",
		Messages: []client.V1Message{{Content: []string{"hi there"}}, {Bot: true, Content: v1.Content}}})
	require.NoError(t, err)
	require.Equal(t, v1.ConversationID, again.ConversationID, "the same conversation")
	require.Equal(t, v1.Reply.Seq+2, again.Reply.Seq)
	_, err = c.Complete(ctx, client.V1Request{ConversationID: "v1-chat", BotID: "bot-c", UserID: "carla"})
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, "body.message", apiErr.Location)
}

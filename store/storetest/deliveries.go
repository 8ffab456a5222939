package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func (s *suite) deliveries(t *testing.T) {
	t.Run("WebhookSecrets", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		none, err := b.store.WebhookSecrets(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Empty(t, none, "a tenant's first secret is made when a delivery is sent")

		_, err = b.store.RotateWebhookSecret(b.ctx, b.t1.ID, "not-a-secret", time.Hour)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Equal(t, "body.secret", fieldOf(err))
		first, err := b.store.RotateWebhookSecret(b.ctx, b.t1.ID, "", time.Hour)
		require.NoError(t, err)
		_, err = parley.ParseWebhookSecret(first.Secret)
		require.NoError(t, err, "a new random secret")
		given := parley.NewWebhookSecret()
		cur, err := b.store.RotateWebhookSecret(b.ctx, b.t1.ID, given, time.Hour)
		require.NoError(t, err)
		require.Equal(t, given, cur.Secret)
		list, err := b.store.WebhookSecrets(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Len(t, list, 2, "the old one signs during the overlap")
		require.Equal(t, given, list[0].Secret, "newest first")
		require.Equal(t, first.Secret, list[1].Secret)
		require.Nil(t, list[0].ExpiresAt)
		require.NotNil(t, list[1].ExpiresAt)
		other, err := b.store.WebhookSecrets(b.ctx, b.t2.ID)
		require.NoError(t, err)
		require.Empty(t, other, "each tenant its own")

		require.NoError(t, parley.EnsureWebhookSecret(b.ctx, b.store, b.t1.ID, given))
		list, err = b.store.WebhookSecrets(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Len(t, list, 2, "ensuring the current secret changes nothing")
		_, err = b.store.RotateWebhookSecret(b.ctx, b.t1.ID, "", 0)
		require.NoError(t, err)
		list, err = b.store.WebhookSecrets(b.ctx, b.t1.ID)
		require.NoError(t, err)
		require.Len(t, list, 1, "no overlap: the others stop signing at once")
	})

	t.Run("Deliveries", func(t *testing.T) {
		t.Parallel()
		b := s.setup(t)
		_, err := b.store.CreateBot(b.ctx, b.t1.ID, &parley.Bot{ID: "bot", Webhook: "https://hooks.example/in"})
		require.NoError(t, err)
		c, _, err := b.store.GetOrCreateConversation(b.ctx, b.t1.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "u"}, CreateUser: true})
		require.NoError(t, err)
		list, err := b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{ConversationID: c.ID, Limit: 10})
		require.NoError(t, err)
		require.Len(t, list, 1, "conversation.created goes to the bot's webhook")
		d := list[0]
		require.Equal(t, parley.DeliveryPending, d.Status)
		require.Equal(t, "https://hooks.example/in", d.URL)
		require.Equal(t, parley.EventConversationCreated, d.EventType)
		var payload struct {
			Type string `json:"type"`
			Data map[string]any
		}
		require.NoError(t, json.Unmarshal(d.Payload, &payload))
		require.Equal(t, parley.EventConversationCreated, payload.Type)
		require.Equal(t, "bot", payload.Data["bot_id"])
		require.Equal(t, "u", payload.Data["user_id"])

		out, err := b.store.DeliveryForSend(b.ctx, b.t1.ID, d.ID)
		require.NoError(t, err)
		require.Equal(t, d.ID, out.Delivery.ID)
		require.NotEmpty(t, out.Secrets)
		require.False(t, out.Disabled)
		_, err = b.store.DeliveryForSend(b.ctx, b.t2.ID, d.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's delivery")
		gone := parley.DeliveryAttempt{Attempt: 1, StatusCode: 410, CreatedAt: parley.Now()}
		err = b.store.RecordAttempt(b.ctx, b.t2.ID, d.ID, gone, parley.DeliveryDisabled, true)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "another tenant's delivery")
		err = b.store.RecordAttempt(b.ctx, b.t1.ID, "no-such-delivery", gone, parley.DeliveryDisabled, true)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		out, err = b.store.DeliveryForSend(b.ctx, b.t1.ID, d.ID)
		require.NoError(t, err)
		require.Equal(t, parley.DeliveryPending, out.Delivery.Status, "changed by no refused attempt")
		require.Zero(t, out.Delivery.Attempts)
		require.False(t, out.Disabled)

		// A 410 disables the endpoint: later events are not delivered there.
		require.NoError(t, b.store.RecordAttempt(b.ctx, b.t1.ID, d.ID,
			parley.DeliveryAttempt{Attempt: 1, StatusCode: 410, CreatedAt: parley.Now()}, parley.DeliveryDisabled, true))
		got, err := b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{ConversationID: c.ID, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, parley.DeliveryDisabled, got[0].Status)
		require.Equal(t, 1, got[0].Attempts)
		require.Len(t, got[0].AttemptLog, 1)
		require.Equal(t, 410, got[0].AttemptLog[0].StatusCode)
		out, err = b.store.DeliveryForSend(b.ctx, b.t1.ID, d.ID)
		require.NoError(t, err)
		require.True(t, out.Disabled, "its endpoint is disabled")
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "op", Bubbles: []string{"op"}})
		require.NoError(t, err)
		got, err = b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{ConversationID: c.ID, Limit: 10})
		require.NoError(t, err)
		require.Len(t, got, 1, "no delivery to a disabled endpoint")

		// A replay sends it again under the same id and re-enables the endpoint.
		_, err = b.store.ReplayDelivery(b.ctx, b.t2.ID, d.ID)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		replayed, err := b.store.ReplayDelivery(b.ctx, b.t1.ID, d.ID)
		require.NoError(t, err)
		require.Equal(t, d.ID, replayed.ID)
		require.Equal(t, parley.DeliveryPending, replayed.Status)
		_, err = b.store.AppendMessage(b.ctx, b.t1.ID, c.ID, parley.NewMessage{FromBot: true, Text: "op2", Bubbles: []string{"op2"}})
		require.NoError(t, err)
		got, err = b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{ConversationID: c.ID, Limit: 10})
		require.NoError(t, err)
		require.Len(t, got, 2, "delivered there again")
		require.Equal(t, parley.EventMessageCreated, got[0].EventType, "newest first")
		pending, err := b.store.ListDeliveries(b.ctx, b.t1.ID, parley.DeliveryFilter{Status: parley.DeliveryDelivered, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, pending, "filtered by status")
		other, err := b.store.ListDeliveries(b.ctx, b.t2.ID, parley.DeliveryFilter{Limit: 10})
		require.NoError(t, err)
		require.Empty(t, other)
	})
}

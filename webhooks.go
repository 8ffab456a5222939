package parley

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Delta is a piece of a reply while the model streams it. Deltas are not
// stored: a client that was not listening does not get them back.
type Delta struct {
	ConversationID string `json:"conversation_id"`
	UptoSeq        int64  `json:"upto_seq"`
	Text           string `json:"text"`
}

// Outgoing is what one webhook attempt sends.
type Outgoing struct {
	Delivery Delivery
	Secrets  []string // every secret that signs
	Disabled bool     // the endpoint answered 410 earlier
}

// DeliveryAttempts is how often a delivery is tried: the first try plus
// one per retry of the webhook package's schedule.
const DeliveryAttempts = 10

// ReplyAttempts is how often a reply is tried before its messages are
// marked reply_failed.
const ReplyAttempts = 5

// WebhookPayload is the body of a webhook, in the Standard Webhooks shape.
func WebhookPayload(eventType string, ts time.Time, data any) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"type": eventType, "timestamp": ts.UTC().Format(time.RFC3339Nano), "data": data})
	if err != nil {
		return nil, fmt.Errorf("webhook: encode payload: %w", err)
	}
	return b, nil
}

// WebhookEventData is the data of a webhook payload: the ids integrators
// route by and the event's own object under a key named for its kind.
func WebhookEventData(eventType string, eventID int64, conversationID, botID, userID string, object json.RawMessage) map[string]any {
	key := "message"
	switch eventType {
	case EventConversationCreated:
		key = "conversation"
	case EventReplyFailed:
		key = "failure"
	case EventMemoryCreated, EventMemoryUpdated, EventMemoryDeleted:
		key = "memory"
	}
	return map[string]any{"event_id": eventID, "conversation_id": conversationID, "bot_id": botID, "user_id": userID,
		key: object}
}

// NewDeliveryID returns a webhook-id in the Standard Webhooks style.
func NewDeliveryID() string { return "msg_" + strings.ReplaceAll(NewID(), "-", "") }

// WebhookSecretPrefix marks Standard Webhooks secrets.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new random signing secret.
func NewWebhookSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails on supported platforms
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseWebhookSecret returns a secret's key bytes.
func ParseWebhookSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, WebhookSecretPrefix))
	if err != nil || len(key) < 16 || len(key) > 64 {
		return nil, errors.New("webhook: a secret is whsec_ and 16 to 64 base64 bytes")
	}
	return key, nil
}

// RotationSecret is the secret a rotation makes current: the one given
// (EINVALID, body.secret, when it is not one), or a new random one.
func RotationSecret(secret string) (string, error) {
	if secret == "" {
		return NewWebhookSecret(), nil
	}
	if _, err := ParseWebhookSecret(secret); err != nil {
		return "", FieldError(EINVALID, "body.secret", "%v", err)
	}
	return secret, nil
}

// EnsureWebhookSecret makes secret the tenant's current secret unless it
// already is (PARLEY_WEBHOOK_SECRET at every start-up). The secrets it
// replaces keep signing for a day, as after a rotation.
func EnsureWebhookSecret(ctx context.Context, st Deliveries, tenantID, secret string) error {
	list, err := st.WebhookSecrets(ctx, tenantID)
	if err != nil {
		return err
	}
	if len(list) > 0 && list[0].Secret == secret && list[0].ExpiresAt == nil {
		return nil
	}
	_, err = st.RotateWebhookSecret(ctx, tenantID, secret, 24*time.Hour)
	return err
}

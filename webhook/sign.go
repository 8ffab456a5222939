// Package webhook delivers events to integrators' endpoints: signed with
// the Standard Webhooks scheme, at least once, with retries on a fixed
// schedule, a delivery log and replays.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley"
)

// SecretPrefix marks Standard Webhooks secrets.
const SecretPrefix = "whsec_"

// NewSecret returns a new random signing secret.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret returns a secret's key bytes.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) < 16 || len(key) > 64 {
		return nil, errors.New("webhook: a secret is whsec_ and 16 to 64 base64 bytes")
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret, space
// separated, so that receivers holding either the old or the new secret
// verify it during a rotation.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a signature header against a secret, as a receiver would,
// with a tolerance for the timestamp. Parley uses it in tests and in the
// CLI's receiver.
func Verify(secret, id, timestamp, signatures string, body []byte, tolerance time.Duration, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside tolerance")
	}
	want, err := Sign([]string{secret}, id, time.Unix(sec, 0), body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(signatures) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no matching signature")
}

// Secrets is what EnsureSecret needs from a store.
type Secrets interface {
	WebhookSecrets(ctx context.Context, tenantID string) ([]parley.WebhookSecret, error)
	RotateWebhookSecret(ctx context.Context, tenantID, secret string, overlap time.Duration) (*parley.WebhookSecret, error)
}

// EnsureSecret makes secret the tenant's current secret unless it already
// is (PARLEY_WEBHOOK_SECRET at every start-up). The secrets it replaces
// keep signing for a day, as after a rotation.
func EnsureSecret(ctx context.Context, st Secrets, tenantID, secret string) error {
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

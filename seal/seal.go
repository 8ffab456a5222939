// Package seal encrypts the secrets Parley keeps on behalf of tenants (a
// bot's own model API key) so that they are never at rest in the clear: a
// copy of the database, a backup or a log of a row shows only ciphertext.
// It is AES-256-GCM from the standard library, with the owner of the secret
// (tenant and bot) as additional data, so a sealed value copied to another
// row does not open there.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key, in bytes (AES-256).
const KeySize = 32

// prefix versions the sealed form, so that another scheme can follow.
const prefix = "v1:"

// Box seals and opens secrets with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes a key written as standard or URL-safe base64, with or
// without padding (how PARLEY_SECRET_KEY is given).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("seal: key is %d bytes, want %d (e.g. openssl rand -base64 32)", len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("seal: key is not base64 (e.g. openssl rand -base64 32)")
}

// NewKey returns a random key, base64-encoded.
func NewKey() string {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(key)
}

// LoadOrCreateKeyFile reads the key in path, creating the file (mode 0600)
// with a new random key when there is none.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) { // another process made it first
			return LoadOrCreateKeyFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("seal: create key file: %w", err)
		}
		_, werr := f.WriteString(NewKey() + "\n")
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			return nil, fmt.Errorf("seal: write key file: %w", err)
		}
		return LoadOrCreateKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// Seal encrypts secret for owner (e.g. tenant and bot id): only Open with
// the same owner gives it back.
func (b *Box) Seal(secret, owner string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, []byte(secret), []byte(owner))
	return prefix + base64.RawStdEncoding.EncodeToString(out)
}

// ErrOpen says a sealed value does not open: another key sealed it, it was
// sealed for another owner, or it was changed.
var ErrOpen = errors.New("seal: the secret does not open with this server's key (PARLEY_SECRET_KEY changed?)")

// Open decrypts what Seal returned for the same owner.
func (b *Box) Open(sealed, owner string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", ErrOpen
	}
	data, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return "", ErrOpen
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, data[:n], data[n:], []byte(owner))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

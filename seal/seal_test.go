package seal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/seal"
)

func box(t *testing.T) *seal.Box {
	t.Helper()
	key, err := seal.ParseKey(seal.NewKey())
	require.NoError(t, err)
	b, err := seal.New(key)
	require.NoError(t, err)
	return b
}

func TestSealOpen(t *testing.T) {
	b := box(t)
	s := b.Seal("sk-secret", "t1/bot-1")
	require.NotContains(t, s, "sk-secret")
	require.NotEqual(t, s, b.Seal("sk-secret", "t1/bot-1"), "a fresh nonce every time")
	got, err := b.Open(s, "t1/bot-1")
	require.NoError(t, err)
	require.Equal(t, "sk-secret", got)

	for name, tc := range map[string]struct {
		box    *seal.Box
		sealed string
		owner  string
	}{
		"another owner":        {b, s, "t2/bot-1"},
		"another key":          {box(t), s, "t1/bot-1"},
		"tampered":             {b, s[:len(s)-2] + flip(s[len(s)-2:]), "t1/bot-1"},
		"no prefix":            {b, strings.TrimPrefix(s, "v1:"), "t1/bot-1"},
		"not base64":           {b, "v1:%%%", "t1/bot-1"},
		"shorter than a nonce": {b, "v1:AAAA", "t1/bot-1"},
		"empty":                {b, "", "t1/bot-1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.box.Open(tc.sealed, tc.owner)
			require.ErrorIs(t, err, seal.ErrOpen)
		})
	}
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", true},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", true},
		{" AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", true},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", false}, // 31 bytes
		{"not a key!", false},
		{"", false},
	} {
		_, err := seal.ParseKey(tc.in)
		require.Equal(t, tc.ok, err == nil, "%q: %v", tc.in, err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret.key")
	k1, err := seal.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	k2, err := seal.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the file's key is kept")

	require.NoError(t, os.WriteFile(path, []byte("short"), 0o600))
	_, err = seal.LoadOrCreateKeyFile(path)
	require.Error(t, err)
}

package httpapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestAuthCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	c := newAuthCache()
	c.now = func() time.Time { return now }
	hash := parley.HashToken("prly_a")
	_, ok := c.get(hash)
	require.False(t, ok)

	c.put(hash, &parley.Principal{TenantID: "t", TokenID: "tok"})
	p, ok := c.get(hash)
	require.True(t, ok)
	require.Equal(t, "t", p.TenantID)

	now = now.Add(authCacheTTL + time.Nanosecond)
	_, ok = c.get(hash)
	require.False(t, ok, "entries expire, so revocations elsewhere take effect")

	c.put(hash, &parley.Principal{TenantID: "t", TokenID: "tok"})
	c.forgetToken("tok")
	_, ok = c.get(hash)
	require.False(t, ok, "a token revoked here is forgotten at once")

	for i := range authCacheSize + 1 {
		c.put(parley.HashToken(string(rune(i))), &parley.Principal{})
	}
	require.LessOrEqual(t, len(c.entries), authCacheSize, "bounded")
}

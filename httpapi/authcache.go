package httpapi

import (
	"sync"
	"time"

	"github.com/parley-chat/parley"
)

// authCacheTTL bounds how long a revoked token keeps working on a replica
// other than the one that revoked it. The replica that revokes forgets the
// token at once.
const authCacheTTL = 5 * time.Second

// authCacheSize bounds memory: past it the cache starts afresh. Only tokens
// that authenticated are kept, so unknown tokens cannot fill it.
const authCacheSize = 10_000

// authCache remembers recent successful authentications. Looking a token up
// in the store on every request costs more than the rest of a small append.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]authEntry
	now     func() time.Time
}

type authEntry struct {
	principal parley.Principal
	expires   time.Time
}

func newAuthCache() *authCache {
	return &authCache{entries: make(map[[32]byte]authEntry), now: time.Now}
}

func (c *authCache) get(hash []byte) (*parley.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[[32]byte(hash)]
	if !ok || c.now().After(e.expires) {
		return nil, false
	}
	p := e.principal
	return &p, true
}

func (c *authCache) put(hash []byte, p *parley.Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= authCacheSize {
		clear(c.entries)
	}
	c.entries[[32]byte(hash)] = authEntry{principal: *p, expires: c.now().Add(authCacheTTL)}
}

// forgetToken drops every entry of a token id (after its revocation).
func (c *authCache) forgetToken(tokenID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.principal.TokenID == tokenID {
			delete(c.entries, k)
		}
	}
}

package parley

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"
)

// NewID returns a time-ordered UUIDv7 string, so that ids sort by creation
// and keyset pagination needs no second column.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Now is the current time in UTC at microsecond precision: the precision
// both stores keep, so that a value read back equals the value written.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// TokenPrefix starts every API token so that leaked tokens are easy to grep
// for and to tell from other secrets.
const TokenPrefix = "prly_"

// NewToken returns a new random API token and the hash to store for it.
func NewToken() (secret string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the stored form of a token. Tokens carry 256 random bits,
// so a plain SHA-256 is enough: there is nothing to brute-force.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return h[:]
}

// MergeKV applies a key-value patch: keys with a null value are removed,
// others are set. It returns a new map and leaves both inputs alone.
func MergeKV(old, patch map[string]any) map[string]any {
	out := make(map[string]any, len(old)+len(patch))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// Words splits free text into the words a full-text query matches: runs
// of letters, digits and underscores, lower-cased, as the stores'
// tokenizers split them. Everything else (operators, quotes, apostrophes,
// brackets) is a separator, so user input can never be query syntax.
func Words(s string) []string {
	words := strings.FieldsFunc(s, isSeparator)
	for i, w := range words {
		words[i] = strings.ToLower(w)
	}
	return words
}

// EachWord yields the words of s that Words returns, in order, without
// making their list: ranking reads hundreds of texts a request, and most
// of their words are already lower-case, which strings.ToLower returns
// without a copy.
func EachWord(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for w := range strings.FieldsFuncSeq(s, isSeparator) {
			if !yield(strings.ToLower(w)) {
				return
			}
		}
	}
}

func isSeparator(r rune) bool {
	return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127 && r != '’' && r != '‘')
}

// SearchTerms is the words of a search query: Words, at most 16 of them
// (every word costs the index a lookup).
func SearchTerms(s string) []string {
	words := Words(s)
	if len(words) > 16 {
		words = words[:16]
	}
	return words
}

// Stem folds a word's common inflections (English and Spanish plurals,
// -ing, -ed, -ly) so that ranking matches what the stores' full-text
// search matches: their indexes stem (FTS5 porter, PostgreSQL english),
// and a candidate found through a stem must not then rank as no match.
// It is deliberately light: words of three letters or fewer stay as they
// are, and only one suffix goes.
func Stem(w string) string {
	if len(w) <= 3 {
		return w
	}
	for _, s := range []struct{ suffix, repl string }{
		{"ies", "y"}, {"ing", ""}, {"ed", ""}, {"ly", ""}, {"es", ""}, {"s", ""},
	} {
		if strings.HasSuffix(w, s.suffix) && !strings.HasSuffix(w, "ss") && len(w)-len(s.suffix) >= 3 {
			return w[:len(w)-len(s.suffix)] + s.repl
		}
	}
	return w
}

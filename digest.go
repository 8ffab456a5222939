package parley

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// Canonical is a message's content as history comparison sees it: its
// bubbles without surrounding white space, empty ones left out, or its text
// when it has no bubbles. A V1 history item and a stored message are the
// same when they are on the same side and their canonical content is equal.
func Canonical(bubbles []string, text string) []string {
	out := make([]string, 0, len(bubbles))
	for _, b := range bubbles {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 && strings.TrimSpace(text) != "" {
		out = append(out, strings.TrimSpace(text))
	}
	return out
}

// ChainStart is the digest of an empty history.
var ChainStart = make([]byte, sha256.Size)

// ChainDigest extends the digest of a history by one message: equal
// digests mean equal histories (same sides, same canonical content, same
// order). It lets a V1 call, which sends the whole history every time, be
// checked against the stored history by one value instead of reading it
// all. A nil prev is an unknown chain (a conversation stored before
// digests were kept) and stays unknown.
func ChainDigest(prev []byte, fromBot bool, canonical []string) []byte {
	if prev == nil {
		return nil
	}
	h := sha256.New()
	h.Write(prev)
	var buf [binary.MaxVarintLen64 + 1]byte
	buf[0] = 'u'
	if fromBot {
		buf[0] = 'b'
	}
	h.Write(buf[:1])
	// Length-prefixed parts: ["ab"] and ["a", "b"] must differ.
	h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(canonical)))])
	for _, s := range canonical {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return h.Sum(make([]byte, 0, sha256.Size))
}

package store

import (
	"crypto/sha256"
	"encoding/binary"
)

// LibraryKey is a tenant's bot as one 64-bit key: both stores key their
// term index of the content library by it, so that "the newest items of
// this bot with this term" is one range of the index's primary key, and
// each of its entries costs eight bytes of scope instead of two ids. A
// search still checks each item's tenant and bot: a collision of two
// libraries' keys could only add candidates, never show another's item.
func LibraryKey(tenantID, botID string) int64 {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + botID))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

package store

import "github.com/parley-chat/parley"

// PageSlot extends a page of messages being read by one zero message and
// returns the page and that message, to scan the next row into. A page is
// often far shorter than its limit (a reply reads the one or two messages
// since the last), so it starts at 16 and doubles as rows come, but never
// grows past limit, the most rows its statement returns: a history page of
// 50 takes three allocations, and no message is scanned and then copied.
func PageSlot(page []parley.Message, limit int) ([]parley.Message, *parley.Message) {
	if len(page) == cap(page) {
		// Not append's growth, which doubles past the limit.
		grown := make([]parley.Message, len(page), len(page)+max(1, min(max(cap(page), 16), limit-len(page))))
		copy(grown, page)
		page = grown
	}
	page = page[:len(page)+1]
	return page, &page[len(page)-1]
}

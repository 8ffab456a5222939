package store

import "github.com/parley-chat/parley"

// PageSlot extends a page of messages being read by one zero message and
// returns the page and that message, to scan the next row into. A page is
// often far shorter than its limit (a reply reads the one or two messages
// since the last), so it starts at 16 and grows fourfold as rows come, but
// never past limit, the most rows its statement returns: a history page of
// 50 (51 rows read) takes two allocations, 67 messages' room, and no
// message is scanned and then copied.
func PageSlot(page []parley.Message, limit int) ([]parley.Message, *parley.Message) {
	if len(page) == cap(page) {
		// Not append's growth, which doubles past the limit.
		grown := make([]parley.Message, len(page), len(page)+max(1, min(max(3*cap(page), 16), limit-len(page))))
		copy(grown, page)
		page = grown
	}
	page = page[:len(page)+1]
	return page, &page[len(page)-1]
}

// TextBubbles gives a page's messages whose bubbles are their text alone
// (most messages; the stores keep their bubbles as NULL) that one bubble,
// from arrays shared by 16 messages instead of an allocation each. Each
// bubble list has a capacity of one: appending to it copies.
type TextBubbles struct{ free []string }

// Of returns the bubble list [text].
func (b *TextBubbles) Of(text string) []string {
	if len(b.free) == 0 {
		b.free = make([]string, 16)
	}
	one := b.free[:1:1]
	one[0] = text
	b.free = b.free[1:]
	return one
}

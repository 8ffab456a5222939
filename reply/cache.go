package reply

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/rank"
)

// Cache keeps the messages of recently answered conversations in memory,
// with a word index for retrieval.
//
// A reply reads a conversation's newest messages (as many as fit the
// budget, back to the summary) and searches the older ones. Read from the
// store on every reply, that was most of a reply's cost: SQLite's readers
// start cold after every commit, and a search per key word is an index
// walk each. But a conversation's messages never change once stored (they
// are only appended, numbered 1, 2, 3... without gaps), so what is cached
// stays true, and each reply reads from the store only what was stored
// since the last: usually the user's message and the previous reply. That
// holds across replicas sharing one PostgreSQL too: a replica brings its
// cache up to date from the store, whoever wrote.
//
// A conversation is held from its first message when it has at most
// MaxMessages of them; retrieval then searches the cache's word index. A
// longer one keeps its newest messages and retrieval searches the store.
// Least recently answered conversations leave first when the cache holds
// more than MaxBytes.
type Cache struct {
	maxBytes    int64
	maxMessages int

	mu    sync.Mutex
	m     map[string]*list.Element // of *convCache
	lru   list.List                // most recently used first
	bytes int64
}

// Cache defaults: a conversation of a few thousand messages costs about a
// megabyte.
const (
	DefaultCacheBytes    = 128 << 20
	DefaultCacheMessages = 5000
)

// NewCache makes a cache of at most maxBytes (an estimate of the memory its
// messages and index take) holding at most maxMessages per conversation;
// zero means the default. A reply whose history reaches back further than
// the cache holds reads it from the store.
func NewCache(maxBytes int64, maxMessages int) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	if maxMessages <= 0 {
		maxMessages = DefaultCacheMessages
	}
	return &Cache{maxBytes: maxBytes, maxMessages: maxMessages, m: map[string]*list.Element{}}
}

// conversation returns the entry of a conversation, locked, creating an
// empty one. The caller calls done when finished with it.
func (c *Cache) conversation(id string) *convCache {
	c.mu.Lock()
	e, ok := c.m[id]
	if ok {
		c.lru.MoveToFront(e)
	} else {
		e = c.lru.PushFront(&convCache{id: id})
		c.m[id] = e
	}
	cc := e.Value.(*convCache)
	c.mu.Unlock()
	cc.mu.Lock()
	return cc
}

// done unlocks an entry and accounts for its new size, evicting the least
// recently used entries beyond the cache's bound (never cc itself: it was
// just used).
func (c *Cache) done(cc *convCache) {
	size := cc.bytes
	cc.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cc.id]
	if !ok {
		return // forgotten meanwhile
	}
	c.bytes += size - cc.accounted
	cc.accounted = size
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		if last == nil || last == e {
			break
		}
		old := last.Value.(*convCache)
		c.lru.Remove(last)
		delete(c.m, old.id)
		c.bytes -= old.accounted
	}
}

// forget drops a conversation (deleted, or its cache found inconsistent).
func (c *Cache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.lru.Remove(e)
		delete(c.m, id)
		c.bytes -= e.Value.(*convCache).accounted
	}
}

// convCache is one conversation's cached messages.
type convCache struct {
	id string
	mu sync.Mutex // held by the reply using it

	// msgs are consecutive messages, oldest first. Their Bubbles and
	// Metadata are dropped: assembly reads neither.
	msgs []cachedMessage
	// whole: msgs start at the conversation's first message, and retrieval
	// may search them (SearchMessages). vocab and postings index the words
	// of msgs[:indexed]: postings[id] lists the indexes in msgs of the
	// messages holding word id, ascending. The index is brought up to date
	// by a search, not as messages come: most replies search nothing (their
	// history holds the whole conversation), and stemming every word of
	// every message is work on every reply's path.
	whole    bool
	vocab    map[string]int32
	postings [][]int32
	indexed  int

	// debounce is the bot's, as the conversation's last reply read it: a
	// coalescing job younger than it will most likely be snoozed, and
	// need not read the user's memories with its state (Cache.newest).
	debounce time.Duration

	bytes     int64 // estimated size
	accounted int64 // size the Cache counts (under Cache.mu)
}

type cachedMessage struct {
	parley.Message
	tokens int // EstimateTokens(Text) + messageOverhead
}

// Per-item size estimates: struct and header sizes of what the cache
// holds, rounded up.
const (
	messageBytes = 256 // cachedMessage and its media slice
	postingBytes = 8   // a word id in the message, its index in a posting list
	wordBytes    = 64  // a vocabulary entry and its posting list's header
)

func newCached(m parley.Message) cachedMessage {
	m.Bubbles, m.Metadata = nil, nil
	return cachedMessage{Message: m, tokens: EstimateTokens(m.Text) + messageOverhead}
}

func (cc *convCache) last() int64 {
	if len(cc.msgs) == 0 {
		return 0
	}
	return cc.msgs[len(cc.msgs)-1].Seq
}

// loadPage is how many messages one read of the store brings.
const loadPage = 500

// newest is the seq of the newest message the cache holds of a
// conversation, and the bot's debounce its last reply saw: false when it
// holds none, or while a reply is using the entry (it is moving on). A
// reply reads the messages after it with its state (parley.ReplyRead),
// loadPage of them, and hands them to update.
func (c *Cache) newest(id string) (seq int64, debounce time.Duration, ok bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok {
		return 0, 0, false
	}
	cc := e.Value.(*convCache)
	if !cc.mu.TryLock() {
		return 0, 0, false
	}
	defer cc.mu.Unlock()
	return cc.last(), cc.debounce, len(cc.msgs) > 0
}

// update brings the entry up to date with the store: the newest
// maxMessages messages when empty, else every message stored since. read
// are messages already read after the entry's newest as it was then
// (Cache.newest), at most loadPage of them, oldest first: they are used
// as the first page (those the entry has since come to hold are skipped).
func (cc *convCache) update(ctx context.Context, s Store, tenantID string, maxMessages int, read []parley.Message) error {
	if len(cc.msgs) == 0 {
		return cc.load(ctx, s, tenantID, maxMessages)
	}
	page := read
	for {
		if page == nil {
			var err error
			if page, err = s.ListMessages(ctx, tenantID, cc.id, parley.HistoryQuery{Limit: loadPage, Order: parley.Ascending, AfterSeq: cc.last()}); err != nil {
				return err
			}
		}
		for _, m := range page {
			if m.Seq <= cc.last() {
				continue // read before another reply brought the entry this far
			}
			if m.Seq != cc.last()+1 {
				// Cannot happen while messages are append-only; should it
				// ever, start again rather than assemble from a wrong view.
				cc.reset()
				return cc.load(ctx, s, tenantID, maxMessages)
			}
			cc.add(newCached(m))
		}
		if len(cc.msgs) > maxMessages {
			cc.trim(maxMessages * 3 / 4)
		}
		if len(page) < loadPage {
			return nil
		}
		page = nil
	}
}

// load reads the conversation's newest maxMessages messages.
func (cc *convCache) load(ctx context.Context, s Store, tenantID string, maxMessages int) error {
	var newest []parley.Message // newest first
	before := int64(0)
	for len(newest) < maxMessages {
		page, err := s.ListMessages(ctx, tenantID, cc.id, parley.HistoryQuery{Limit: min(loadPage, maxMessages-len(newest)),
			Order: parley.Descending, BeforeSeq: before})
		if err != nil {
			return err
		}
		newest = append(newest, page...)
		if len(page) == 0 || page[len(page)-1].Seq == 1 {
			break
		}
		before = page[len(page)-1].Seq
	}
	cc.msgs = make([]cachedMessage, 0, len(newest))
	cc.whole = len(newest) > 0 && newest[len(newest)-1].Seq == 1
	for i := len(newest) - 1; i >= 0; i-- {
		cc.add(newCached(newest[i]))
	}
	return nil
}

// add appends the next message.
func (cc *convCache) add(m cachedMessage) {
	cc.bytes += messageBytes + int64(len(m.Text)) + int64(len(m.ID))
	for _, a := range m.AttachedMedia {
		cc.bytes += int64(len(a.URL) + len(a.MediaType) + len(a.ContentID) + 64)
	}
	cc.msgs = append(cc.msgs, m)
}

// indexWords indexes the words of the messages not yet in the index.
func (cc *convCache) indexWords() {
	if cc.vocab == nil {
		cc.vocab = map[string]int32{}
	}
	for ; cc.indexed < len(cc.msgs); cc.indexed++ {
		i := int32(cc.indexed)
		for w := range parley.EachWord(cc.msgs[i].Text) {
			w = rank.Porter(w) // the index holds stems, as the store's search matches words
			id, ok := cc.vocab[w]
			if !ok {
				id = int32(len(cc.postings))
				cc.vocab[w] = id
				cc.postings = append(cc.postings, nil)
				cc.bytes += wordBytes + int64(len(w))
			}
			if p := cc.postings[id]; len(p) == 0 || p[len(p)-1] != i {
				cc.postings[id] = append(p, i)
				cc.bytes += postingBytes
			}
		}
	}
}

// trim keeps the newest n messages. The entry no longer starts at the first
// message, so its index goes: retrieval searches the store.
func (cc *convCache) trim(n int) {
	kept := make([]cachedMessage, 0, n)
	var bytes int64
	for _, m := range cc.msgs[len(cc.msgs)-n:] {
		kept = append(kept, m)
		bytes += messageBytes + int64(len(m.Text)) + int64(len(m.ID))
	}
	cc.reset()
	cc.msgs, cc.bytes = kept, bytes
}

func (cc *convCache) reset() {
	cc.msgs, cc.whole, cc.vocab, cc.postings, cc.indexed, cc.bytes = nil, false, nil, nil, 0, 0
}

// index returns the position of seq in msgs, or -1.
func (cc *convCache) index(seq int64) int {
	if len(cc.msgs) == 0 {
		return -1
	}
	i := seq - cc.msgs[0].Seq
	if i < 0 || i >= int64(len(cc.msgs)) {
		return -1
	}
	return int(i)
}

// windowStart is where the history of a reply starts in msgs (oldest
// first, ending with the newest message it may read): going back from the
// newest, until the messages cover the budget and reach back to the
// summary, at most historyCap of them. ok is false when msgs ran out first
// without holding the conversation's first message: older ones are needed.
func windowStart(msgs []cachedMessage, budget int, summarySeq int64) (start int, ok bool) {
	tokens := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		tokens += msgs[i].tokens
		if (tokens > budget && msgs[i].Seq <= summarySeq+1) || len(msgs)-i >= historyCap || msgs[i].Seq == 1 {
			return i, true
		}
	}
	return 0, false
}

// history returns the history of a reply answering up to target, oldest
// first, or ok false when the entry cannot tell it.
func (cc *convCache) history(target int64, budget int, summarySeq int64) ([]parley.Message, bool) {
	end := cc.index(target)
	if end < 0 {
		return nil, false
	}
	start, ok := windowStart(cc.msgs[:end+1], budget, summarySeq)
	if !ok {
		return nil, false
	}
	out := make([]parley.Message, 0, end+1-start)
	for _, m := range cc.msgs[start : end+1] {
		out = append(out, m.Message)
	}
	return out, true
}

// SearchMessages is the store's SearchMessages (parley.MessageSearcher)
// over an entry that holds every message of the conversation (whole): for
// each term, the newest messages (at most perTerm) holding its stem with a
// seq below beforeSeq (0: any), and the messages up to around seqs either
// side of each (below beforeSeq too), each once, newest first.
func (cc *convCache) SearchMessages(_ context.Context, _, conversationID string, terms []string, beforeSeq int64, perTerm, around int) ([]parley.Message, error) {
	if !cc.whole || conversationID != cc.id {
		return nil, fmt.Errorf("reply: the cache does not hold conversation %s whole", conversationID)
	}
	cc.indexWords()
	limit := len(cc.msgs)
	if i := cc.index(beforeSeq); i >= 0 {
		limit = i
	}
	found := map[int]bool{}
	for _, t := range terms {
		id, ok := cc.vocab[rank.Porter(strings.ToLower(t))]
		if !ok {
			continue
		}
		p := cc.postings[id]
		n := 0
		for j := len(p) - 1; j >= 0 && n < perTerm; j-- {
			i := int(p[j])
			if i >= limit {
				continue
			}
			n++
			for k := max(i-around, 0); k <= min(i+around, limit-1); k++ {
				found[k] = true
			}
		}
	}
	at := make([]int, 0, len(found))
	for i := range found {
		at = append(at, i)
	}
	slices.SortFunc(at, func(a, b int) int { return b - a })
	out := make([]parley.Message, len(at))
	for k, i := range at {
		out[k] = cc.msgs[i].Message
	}
	return out, nil
}

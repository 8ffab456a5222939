package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/rank"
)

// Recall's retrieval, what GET .../recall answers: memories ranked by
// BM25 over their texts and by their vectors (Recall.Embedder), and
// messages by BM25 over the store's full-text matches and their
// neighbours, fused by reciprocal rank (each list's k-th result scores
// 1/(rrfK+k)), so that no list's scale decides. The weights below are
// the ones measured best on LoCoMo (`parley bench --suite memory`,
// docs/performance.md).
const (
	rrfK          = 60
	recallTerms   = 8  // query words searched for, the longest first
	recallPerTerm = 30 // matches of each the full-text search brings, newest first
	recallPerList = 50

	// A message is scored with the words of the messages around it in the
	// same talk (no more than an hour apart), fewer the farther they are
	// (neighbours): an answer ("Yes, twice, with the kids!") is found by
	// the question it answers, and a turn by the talk it is part of.
	recallAround = 3
	neighbourGap = time.Hour
	// A query naming one participant (the user's name, the bot's) prefers
	// what that participant said: a match by them gains about what a
	// rare word's match scores. A query naming both prefers the one named
	// first, its subject ("What does Melanie think of Caroline's
	// plan?"), by a little: between matches about as good.
	speakerBoost = 4.0
	subjectBoost = 0.5
	// A query naming a date prefers matches said on it or naming it
	// ("yesterday"), then those of that month or naming days about it
	// ("last week"): dateBoost.
	dayBoost   = 8.0
	monthBoost = 4.0
)

// neighbours weigh the words of the messages around one (by their offset
// in seqs) in its score, each less than the message's own words. The one
// before counts most, being most often the question the message answers;
// then the one after. The weights are the best measured on LoCoMo's long
// conversations (docs/performance.md).
var neighbours = [...]struct {
	offset int
	weight float64
}{{-1, 0.8}, {1, 0.5}, {-2, 0.4}, {2, 0.2}, {-3, 0.15}, {3, 0.15}}

// Recall is recall's retrieval: what GET .../recall answers (Search), and
// what a reply's context adds to its history (Retrieve), ranked alike.
type Recall struct {
	Store Store
	// Embedder makes the query's vector, for the memories stored with
	// vectors of its model; nil: memories rank by their words alone.
	Embedder parley.Embedder
}

// profile kinds say who the user is: always worth a reply's room.
var profile = map[string]bool{parley.KindName: true, parley.KindPlace: true, parley.KindWork: true,
	parley.KindFamily: true, parley.KindPet: true}

// withTheRest is found (the memories recall found for a turn, best first)
// and then the rest of ms by who the user is, how often it was said, then
// the newest: a reply has room for a few memories beyond those the turn
// is about.
func withTheRest(found, ms []parley.Memory) []parley.Memory {
	in := make(map[string]bool, len(found))
	for _, m := range found {
		in[m.ID] = true
	}
	rest := slices.DeleteFunc(slices.Clone(ms), func(m parley.Memory) bool { return in[m.ID] })
	score := func(m parley.Memory) float64 {
		s := 0.0
		if profile[m.Kind] {
			s++
		}
		return s + 0.5*math.Log(float64(max(m.Confirmations, 1)))
	}
	slices.SortStableFunc(rest, func(a, b parley.Memory) int {
		sa, sb := score(a), score(b)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return strings.Compare(b.ID, a.ID) // newer ids first
	})
	return append(found, rest...)
}

// Search returns the best limit hits for query in a conversation: its
// user's memories (of its bot) and its messages.
func (r Recall) Search(ctx context.Context, tenantID string, c *parley.Conversation, query string, limit int) ([]parley.RecallHit, error) {
	// The participants' names and the user's memories, read at once.
	var names [2]string // the user's, the bot's
	var ms []parley.Memory
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		bot, err := r.Store.GetBot(gctx, tenantID, c.BotID)
		if err == nil {
			names[1] = bot.Name
		}
		return ignoreNotFound(err)
	})
	g.Go(func() error {
		u, err := r.Store.GetUser(gctx, tenantID, c.UserID)
		if err == nil {
			names[0], _ = u.KV["name"].(string)
		}
		return ignoreNotFound(err)
	})
	g.Go(func() (err error) {
		ms, err = r.Store.ListMemories(gctx, tenantID, parley.MemoryFilter{BotID: c.BotID, UserID: c.UserID, Limit: parley.RecallMemories})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	q := parseQuery(query, names)
	var hits []parley.RecallHit
	mems, err := r.memories(ctx, ms, q)
	if err != nil {
		return nil, err
	}
	for _, m := range mems {
		hits = append(hits, parley.RecallHit{Kind: "memory", Text: m.Text, MemoryID: m.ID, ConversationID: m.ConversationID,
			SourceSeqs: m.SourceSeqs, Score: m.score})
	}
	msgs, err := r.messages(ctx, tenantID, c, q, 0, r.Store)
	if err != nil {
		return nil, err
	}
	for rank, m := range msgs {
		hits = append(hits, parley.RecallHit{Kind: "message", Text: m.Text, Seq: m.Seq, ConversationID: c.ID,
			SourceSeqs: []int64{m.Seq}, Score: 1 / float64(rrfK+rank+1)})
	}
	slices.SortStableFunc(hits, func(a, b parley.RecallHit) int { return cmp.Compare(b.Score, a.Score) }) // best first
	return hits[:min(limit, len(hits))], nil
}

// Retrieve is recall's retrieval for a reply's turn (reply.Retrieval): the
// user's memories as Search ranks them for query, then the rest (who the
// user is, the most confirmed, the newest) for the room the reply has; and
// the conversation's messages with a seq below before (older than the
// history the reply holds; 0: any) as Search ranks them, found through
// msgs: the store, or the reply's cache of the conversation, which answers
// alike. msgs nil: no messages.
func (r Recall) Retrieve(ctx context.Context, st *parley.ReplyState, query string, before int64, msgs parley.MessageSearcher) ([]parley.Memory, []parley.Message, error) {
	ms := st.Memories // read with the state when the reply asked for them (parley.ReplyRead)
	if ms == nil {
		var err error
		if ms, err = r.Store.ListMemories(ctx, st.TenantID, parley.MemoryFilter{BotID: st.Bot.ID, UserID: st.User.ID, Limit: parley.RecallMemories}); err != nil {
			return nil, nil, err
		}
	}
	userName, _ := st.User.KV["name"].(string)
	q := parseQuery(query, [2]string{userName, st.Bot.Name})
	found, err := r.memories(ctx, ms, q)
	if errors.Is(err, ErrEmbed) {
		// A reply does not wait for the embeddings endpoint: without the
		// query's vector its memories rank by their words, as with no
		// embedder (GET .../recall answers 503 instead).
		found, err = Recall{Store: r.Store}.memories(ctx, ms, q)
	}
	if err != nil {
		return nil, nil, err
	}
	mems := make([]parley.Memory, len(found))
	for i, m := range found {
		mems[i] = m.Memory
	}
	mems = withTheRest(mems, ms)
	if msgs == nil {
		return mems, nil, nil
	}
	messages, err := r.messages(ctx, st.TenantID, &st.Conversation, q, before, msgs)
	if err != nil {
		return nil, nil, err
	}
	return mems, messages, nil
}

// scoredMemory is a memory recall found, with its fused score.
type scoredMemory struct {
	parley.Memory
	score float64
}

// memories ranks the memories ms for q: by their words (BM25, those
// holding half the query's terms) and by their vectors' cosine with the
// query's, each list's k-th scoring 1/(rrfK+k), a memory in both the sum
// of the two; best first.
func (r Recall) memories(ctx context.Context, ms []parley.Memory, q recallQuery) ([]scoredMemory, error) {
	byWords := matchMemories(ms, q.terms)
	var byVector []parley.Memory // none, and no call to embed, when no memory has a vector of the model
	if r.Embedder != nil && q.text != "" && slices.ContainsFunc(ms, func(m parley.Memory) bool { return m.Vector.Model == r.Embedder.Model() }) {
		vs, err := r.Embedder.Embed(ctx, []string{q.text})
		if err != nil {
			return nil, fmt.Errorf("recall: the query: %w: %w", ErrEmbed, err)
		}
		if len(vs) == 1 {
			byVector = nearest(ms, r.Embedder.Model(), parley.Normalize(vs[0]), recallPerList)
		}
	}
	var out []scoredMemory
	at := map[string]int{} // memory id: its index in out
	for _, list := range [][]parley.Memory{byWords, byVector} {
		for k, m := range list {
			score := 1 / float64(rrfK+k+1)
			if i, ok := at[m.ID]; ok {
				out[i].score += score
				continue
			}
			at[m.ID] = len(out)
			out = append(out, scoredMemory{Memory: m, score: score})
		}
	}
	slices.SortStableFunc(out, func(a, b scoredMemory) int { return cmp.Compare(b.score, a.score) }) // best first
	return out, nil
}

// messages ranks the conversation's messages for q (those with a seq
// below before; 0: all): the full-text matches of its words and their
// neighbours, found through search, by BM25 with the conversation as the
// collection, a neighbour's words counting neighbourWeight, then the
// speaker and date preferences.
func (r Recall) messages(ctx context.Context, tenantID string, c *parley.Conversation, q recallQuery, before int64, search parley.MessageSearcher) ([]parley.Message, error) {
	words := rank.KeyTerms(strings.Join(q.words, " "), recallTerms)
	if len(words) == 0 || len(q.terms.List) == 0 {
		return nil, nil
	}
	// The matches and the messages around each (the neighbours' words
	// count too), in one statement.
	found, err := search.SearchMessages(ctx, tenantID, c.ID, words, before, recallPerTerm, recallAround)
	if err != nil {
		return nil, err
	}
	bySeq := make(map[int64]parley.Message, len(found))
	for _, m := range found {
		bySeq[m.Seq] = m
	}
	all := make([]parley.Message, 0, len(bySeq))
	for _, m := range bySeq {
		all = append(all, m)
	}
	slices.SortFunc(all, func(a, b parley.Message) int { return int(a.Seq - b.Seq) })
	// Each message's terms (their indexes in q.terms.List, one per word
	// that is one) and its length in words, once; the terms of all in one
	// slice.
	ids := make([]int, 0, 4*len(all))
	ends := make([]int, len(all))
	lengths := make([]int, len(all))
	for i, m := range all {
		ids, lengths[i] = q.terms.In(m.Text, ids)
		ends[i] = len(ids)
	}
	add := func(row []float64, i int, weight float64) float64 {
		from := 0
		if i > 0 {
			from = ends[i-1]
		}
		for _, t := range ids[from:ends[i]] {
			row[t] += weight
		}
		return weight * float64(lengths[i])
	}
	near := func(i, j int) bool {
		if j < 0 || j >= len(all) || all[j].Seq-all[i].Seq != int64(j-i) {
			return false
		}
		gap := all[i].CreatedAt.Sub(all[j].CreatedAt)
		return gap <= neighbourGap && gap >= -neighbourGap
	}
	scores := rank.BM25(len(all), int(max(c.MessageCount, int64(len(all)))), len(q.terms.List), func(i int, row []float64) float64 {
		n := add(row, i, 1)
		for _, nb := range neighbours {
			if near(i, i+nb.offset) {
				n += add(row, i+nb.offset, nb.weight)
			}
		}
		return n
	})
	for i, m := range all {
		if scores[i] <= 0 {
			continue
		}
		if q.speaker != 0 && m.FromBot == (q.speaker == speakerBot) {
			scores[i] += q.boost
		}
		if q.year != 0 {
			scores[i] += q.dateBoost(m)
		}
	}
	best := rank.Best(scores, func(i int) int64 { return all[i].Seq }, recallPerList)
	out := make([]parley.Message, len(best))
	for k, i := range best {
		out[k] = all[i]
	}
	return out, nil
}

// dateBoost is what a message gains for the date the query names: said on
// that day, or naming it relative to its own day ("yesterday", "last
// Friday"), dayBoost; said in the month the query names, or naming days
// that hold the query's day or lie in its month ("last week"), monthBoost.
func (q recallQuery) dateBoost(m parley.Message) float64 {
	said := m.CreatedAt.UTC()
	year := q.year
	if year == anyYear {
		year = said.Year()
	}
	from := time.Date(year, q.month, max(q.day, 1), 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	if q.day != 0 {
		to = from.AddDate(0, 0, 1)
	}
	if !said.Before(from) && said.Before(to) {
		if q.day != 0 {
			return dayBoost
		}
		return monthBoost
	}
	if r, ok := relative(m.Text, said); ok && r.from.Before(to) && from.Before(r.to) {
		if q.day != 0 && r.from.AddDate(0, 0, 1).Equal(r.to) {
			return dayBoost
		}
		return monthBoost
	}
	return 0
}

// ignoreNotFound is err, but nil for ENOTFOUND: a deleted bot or user
// only leaves its name out.
func ignoreNotFound(err error) error {
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil
	}
	return err
}

// matchMemories returns the best recallPerList memories for the query's
// terms, by BM25 over the memories' texts, of those holding at least half
// of the terms: a memory that shares one common word with a long question
// takes a message's place in the ranking and says less. Ties go to the
// later memory of ms.
func matchMemories(ms []parley.Memory, terms *rank.Terms) []parley.Memory {
	nTerms := len(terms.List)
	held := make([]int, len(ms))
	var ids []int
	scores := rank.BM25(len(ms), len(ms), nTerms, func(i int, row []float64) float64 {
		var n int
		ids, n = terms.In(ms[i].Text, ids[:0])
		for _, t := range ids {
			if row[t] == 0 {
				held[i]++
			}
			row[t]++
		}
		return float64(n)
	})
	for i := range scores {
		if 2*held[i] < nTerms {
			scores[i] = 0
		}
	}
	best := rank.Best(scores, func(i int) int64 { return int64(i) }, recallPerList)
	out := make([]parley.Memory, len(best))
	for k, i := range best {
		out[k] = ms[i]
	}
	return out
}

const (
	speakerUser = 1
	speakerBot  = 2
)

// recallQuery is what a query asks: its content words, which participant
// it names, which date.
type recallQuery struct {
	words   []string    // content words, as said (the store's search stems them)
	terms   *rank.Terms // their Porter stems, once each
	text    string      // the content words as one text
	speaker int         // 0, speakerUser or speakerBot: whose messages to prefer
	boost   float64     // by how much: speakerBoost, subjectBoost
	year    int
	month   time.Month
	day     int // 0: the month
}

// parseQuery reads a query: a word of exactly one participant's name
// (names: the user's, the bot's) says whose messages to prefer, the first
// so named if both are, and is no search word (a name is said to the
// other participant far more often than by its owner); stopwords and
// one-letter words (a possessive's "s") go; a noun of state brings the
// word it is made from (derivedFrom).
func parseQuery(query string, names [2]string) recallQuery {
	var q recallQuery
	owner := map[string]int{}
	for who, name := range names {
		for _, w := range parley.Words(name) {
			owner[w] |= who + 1
		}
	}
	named, first := 0, 0
	for _, w := range parley.Words(query) {
		w = strings.TrimFunc(w, unicode.IsPunct) // "¿cuándo" is a word to parley.Words
		if o := owner[w]; o != 0 {
			named |= o
			if first == 0 {
				first = o
			}
			continue
		}
		if len([]rune(w)) < 2 || stopwords[w] {
			continue
		}
		q.words = append(q.words, w)
		if base := derivedFrom(w); base != "" {
			q.words = append(q.words, base)
		}
	}
	q.terms = rank.NewTerms(q.words)
	switch {
	case named == speakerUser || named == speakerBot:
		q.speaker, q.boost = named, speakerBoost
	case first == speakerUser || first == speakerBot: // both named; first not a word of both names
		q.speaker, q.boost = first, subjectBoost
	}
	q.text = strings.Join(q.words, " ")
	q.year, q.month, q.day = queryDate(parley.Words(query))
	return q
}

// derivedFrom is the word a noun of state is made from ("mentorship":
// "mentor", "childhood": "child"), "" for other words. Stemming keeps
// those suffixes, and people say the base ("she mentored me", "as a
// kid"), so a query searches both.
func derivedFrom(w string) string {
	for _, suffix := range []string{"ship", "hood"} {
		if base, ok := strings.CutSuffix(w, suffix); ok && len(base) >= 4 {
			return base
		}
	}
	return ""
}

var months = map[string]time.Month{}

func init() {
	for i, n := range strings.Fields(`january february march april may june july august september october november december`) {
		months[n] = time.Month(i + 1)
	}
	for i, n := range strings.Fields(`enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre`) {
		months[n] = time.Month(i + 1)
	}
}

// anyYear is the year of a date named without one ("in June", "June
// 13"): the day or month of any year.
const anyYear = -1

// queryDate finds the first date in a query's words: "October 13, 2023",
// "13 October 2023", "13 de octubre de 2023", "2023-10-13" (a day) or
// "May 2023" (a month); "June 13", "in June" (anyYear; not "May" or
// "March" without a day or year). Year zero: none.
func queryDate(words []string) (int, time.Month, int) {
	ws := slices.DeleteFunc(slices.Clone(words), func(w string) bool { return w == "de" || w == "of" || w == "del" })
	num := func(j, lo, hi int) int {
		if j < 0 || j >= len(ws) || ws[j] == "" || ws[j][0] < '0' || ws[j][0] > '9' {
			return 0 // most words: not a number, and no error made to say so
		}
		n, err := strconv.Atoi(ws[j])
		if err != nil || n < lo || n > hi {
			return 0
		}
		return n
	}
	for i, w := range ws {
		if y := num(i, 1900, 2999); y > 0 {
			if m, d := num(i+1, 1, 12), num(i+2, 1, 31); m > 0 && d > 0 {
				return y, time.Month(m), d
			}
		}
		m, ok := months[w]
		if !ok {
			continue
		}
		switch {
		case num(i+1, 1, 31) > 0 && num(i+2, 1900, 2999) > 0:
			return num(i+2, 1900, 2999), m, num(i+1, 1, 31)
		case num(i-1, 1, 31) > 0 && num(i+1, 1900, 2999) > 0:
			return num(i+1, 1900, 2999), m, num(i-1, 1, 31)
		case num(i+1, 1900, 2999) > 0:
			return num(i+1, 1900, 2999), m, 0
		case num(i+1, 1, 31) > 0:
			return anyYear, m, num(i+1, 1, 31)
		case num(i-1, 1, 31) > 0:
			return anyYear, m, num(i-1, 1, 31)
		case w != "may" && w != "march": // alone, more often verbs
			return anyYear, m, 0
		}
	}
	return 0, 0, 0
}

// stopwords are words a question is made of but no answer is found by
// (English and Spanish): ranking by them only rewards long turns.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if of to in on at by for with from about as into over after before
		is are was were be been being am do does did done have has had having i me my we our you your he him his she her it its
		they them their what which who whom whose when where why how this that these those there here then than so not no
		can could would should will shall may might must also just very too any some all each every both either
		el la los las un una unos unas y o pero de del al a en con por para sin sobre como que qué quién cuándo dónde cómo
		es son era fue ser estar está están he ha han hay mi mis tu tus su sus nos le les lo se me te ya muy más menos`) {
		stopwords[w] = true
	}
}

// Content is a query without its stopwords (the query itself when it is
// nothing else): the words the memory suite's baseline, plain BM25 over
// the raw turns, is asked with, so that it drops what parseQuery drops.
func Content(query string) string {
	var kept []string
	for _, w := range parley.Words(query) {
		w = strings.TrimFunc(w, unicode.IsPunct) // "¿cuándo" is a word to parley.Words
		if w != "" && !stopwords[w] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return query
	}
	return strings.Join(kept, " ")
}

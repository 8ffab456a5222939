package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/rank"
)

// MemoryResult is one store's LoCoMo memory figures: recall@k of the
// questions' evidence turns through Parley's recall, against plain BM25
// over the raw turns measured in the same run.
type MemoryResult struct {
	Store         string
	Conversations int
	Turns         int
	Questions     int // categories 1-4
	Memories      int
	ExtractPerS   float64 // messages read for memories per second (built-in extractor)
	Recall        map[int]float64
	Baseline      map[int]float64
	RecallP50     time.Duration
	RecallP95     time.Duration
	ByCategory    map[int][2]float64 // recall@10: Parley, baseline
	// Curve and BaselineCurve are recall@k for k = 1..20 (index k-1).
	Curve, BaselineCurve []float64
	// Recall@10 and latency of the same recall with memories ranked by
	// their words alone (no vectors), same run.
	WordsOnly10                float64
	WordsOnlyP50, WordsOnlyP95 time.Duration
}

// recallAt are the cut-offs measured.
var recallAt = []int{5, 10, 20}

type locomoTurn struct {
	Speaker     string `json:"speaker"`
	DiaID       string `json:"dia_id"`
	Text        string `json:"text"`
	BlipCaption string `json:"blip_caption"`
}

type locomoQA struct {
	Question string   `json:"question"`
	Evidence []string `json:"evidence"`
	Category int      `json:"category"`
}

// Memory loads every LoCoMo conversation of opts.CorpusDir into its own
// tenant (the first speaker as the user, the other as the bot), has the
// memory worker read it, then asks every question of categories 1-4 of
// Parley's recall (memory.Recall.Search, what GET .../recall answers) and
// of a plain BM25 ranking of all the raw turns (by the same question words,
// stopwords left out), and scores the share of
// each question's evidence turns found in the first k hits (a memory
// counts for the turns it was extracted from). Turns keep their session's
// date, which the extractor resolves relative dates against.
func Memory(ctx context.Context, name string, st parley.Store, opts Options) (*MemoryResult, error) {
	files, err := locomoFiles(opts.CorpusDir)
	if err != nil {
		return nil, err
	}
	kMax := recallAt[len(recallAt)-1]
	res := &MemoryResult{Store: name, Recall: map[int]float64{}, Baseline: map[int]float64{}, ByCategory: map[int][2]float64{},
		Curve: make([]float64, kMax), BaselineCurve: make([]float64, kMax)}
	perCat := map[int]int{}
	var lat, wordsLat []time.Duration
	var extractTime time.Duration
	bar := opts.meter(name+": LoCoMo conversations", len(files))
	defer bar.Finish()
	for fi, f := range files {
		bar.Set(int64(fi), fmt.Sprintf("conversation %d of %d", fi+1, len(files)))
		l, err := loadLoCoMo(ctx, st, f, "locomo-"+strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			return nil, err
		}
		res.Conversations++
		res.Turns += len(l.turns)
		res.Memories += l.memories
		extractTime += l.extractTime
		if err := l.ask(ctx, memory.Recall{Store: st, Embedder: embedder}, func(qa locomoQA, evidence map[int64]bool, ours [][]int64, took time.Duration) {
			lat = append(lat, took)
			var base [][]int64
			for _, m := range rank.Rank(memory.Content(qa.Question), l.turns, recallAt[len(recallAt)-1]) {
				base = append(base, []int64{m.Seq})
			}
			res.Questions++
			perCat[qa.Category]++
			for _, k := range recallAt {
				res.Recall[k] += coverage(ours, evidence, k)
				res.Baseline[k] += coverage(base, evidence, k)
			}
			for k := 1; k <= kMax; k++ {
				res.Curve[k-1] += coverage(ours, evidence, k)
				res.BaselineCurve[k-1] += coverage(base, evidence, k)
			}
			c := res.ByCategory[qa.Category]
			c[0] += coverage(ours, evidence, 10)
			c[1] += coverage(base, evidence, 10)
			res.ByCategory[qa.Category] = c
		}); err != nil {
			return nil, err
		}
		if err := l.ask(ctx, memory.Recall{Store: st}, func(_ locomoQA, evidence map[int64]bool, ours [][]int64, took time.Duration) {
			wordsLat = append(wordsLat, took)
			res.WordsOnly10 += coverage(ours, evidence, 10)
		}); err != nil {
			return nil, err
		}
	}
	for _, k := range recallAt {
		res.Recall[k] /= float64(max(res.Questions, 1))
		res.Baseline[k] /= float64(max(res.Questions, 1))
	}
	for i := range res.Curve {
		res.Curve[i] /= float64(max(res.Questions, 1))
		res.BaselineCurve[i] /= float64(max(res.Questions, 1))
	}
	for cat, c := range res.ByCategory {
		n := float64(max(perCat[cat], 1))
		res.ByCategory[cat] = [2]float64{c[0] / n, c[1] / n}
	}
	res.ExtractPerS = float64(res.Turns) / max(extractTime.Seconds(), 1e-9)
	res.RecallP50, res.RecallP95 = p50p95(lat)
	res.WordsOnly10 /= float64(max(res.Questions, 1))
	res.WordsOnlyP50, res.WordsOnlyP95 = p50p95(wordsLat)
	return res, nil
}

// embedder is the server's default: the hashing vectors, no model.
var embedder parley.Embedder = rank.Hashing{}

// p50p95 are the median and 95th percentile of d (sorted in place).
func p50p95(d []time.Duration) (time.Duration, time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*95/100]
}

// loaded is one LoCoMo conversation in a store, read by the memory worker.
type loaded struct {
	tenantID    string
	conv        *parley.Conversation
	turns       []parley.Message
	seqOf       map[string]int64 // dia_id: seq
	qas         []locomoQA
	memories    int
	extractTime time.Duration
}

// loadLoCoMo stores one LoCoMo conversation in a tenant of its own (the
// first speaker as the user, the other as the bot), each turn at its
// session's date, and has the memory worker read it.
func loadLoCoMo(ctx context.Context, st parley.Store, file, tenantName string) (*loaded, error) {
	doc, err := readLoCoMo(file)
	if err != nil {
		return nil, err
	}
	var speakerA, speakerB string
	_ = json.Unmarshal(doc["speaker_a"], &speakerA)
	_ = json.Unmarshal(doc["speaker_b"], &speakerB)
	tenant, err := st.EnsureTenant(ctx, tenantName)
	if err != nil {
		return nil, err
	}
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot", Name: speakerB}); err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
		return nil, err
	}
	// The user's name where a platform keeps it (kv.name): recall
	// prefers the messages of a participant the question names.
	if _, _, err := st.PutUser(ctx, tenant.ID, &parley.User{ID: "user", KV: map[string]any{"name": speakerA}}); err != nil {
		return nil, err
	}
	conv, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bot", UserID: "user"}})
	if err != nil {
		return nil, err
	}
	l := &loaded{tenantID: tenant.ID, conv: conv, seqOf: map[string]int64{}}
	for n := 1; ; n++ {
		body, ok := doc[fmt.Sprintf("session_%d", n)]
		if !ok {
			break
		}
		var turns []locomoTurn
		if err := json.Unmarshal(body, &turns); err != nil {
			return nil, fmt.Errorf("%s session %d: %w", file, n, err)
		}
		var when string
		_ = json.Unmarshal(doc[fmt.Sprintf("session_%d_date_time", n)], &when)
		at, _ := time.Parse("3:04 pm on 2 January, 2006", when) // zero (now) if it does not parse
		for _, t := range turns {
			text := t.Text
			if t.BlipCaption != "" {
				text += " [shares a photo: " + t.BlipCaption + "]"
			}
			r, err := st.AppendMessage(ctx, tenant.ID, conv.ID, parley.NewMessage{FromBot: t.Speaker != speakerA, Text: text,
				Bubbles: []string{text}, NoReply: true, At: at})
			if err != nil {
				return nil, err
			}
			l.seqOf[t.DiaID] = r.Message.Seq
			l.turns = append(l.turns, *r.Message)
		}
	}
	start := time.Now()
	w := &memory.Worker{Store: st, Embedder: embedder}
	if err := w.Work(ctx, &river.Job[parley.MemoryJob]{Args: parley.MemoryJob{TenantID: tenant.ID, ConversationID: conv.ID}}); err != nil {
		return nil, err
	}
	l.extractTime = time.Since(start)
	ms, err := st.ListMemories(ctx, tenant.ID, parley.MemoryFilter{BotID: "bot", UserID: "user", Limit: 1000})
	if err != nil {
		return nil, err
	}
	l.memories = len(ms)
	if err := indexed(ctx, st); err != nil {
		return nil, err
	}
	// Recall is asked with the conversation as the server reads it for
	// each request: its message count is the collection ranking weighs
	// words by.
	if l.conv, err = st.GetConversation(ctx, tenant.ID, conv.ID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc["qa"], &l.qas); err != nil {
		return nil, fmt.Errorf("%s qa: %w", file, err)
	}
	return l, nil
}

// indexed waits until search sees every message stored (the SQLite
// index trails).
func indexed(ctx context.Context, st parley.Store) error {
	ix, ok := st.(interface {
		IndexPending(ctx context.Context) (int, error)
	})
	for ok {
		n, err := ix.IndexPending(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// ask asks Parley's recall every question of categories 1-4 with evidence
// in the conversation, and hands each its evidence seqs, the hits' source
// seqs and the time recall took.
func (l *loaded) ask(ctx context.Context, rc memory.Recall, each func(qa locomoQA, evidence map[int64]bool, hits [][]int64, took time.Duration)) error {
	for _, qa := range l.qas {
		if qa.Category < 1 || qa.Category > 4 || len(qa.Evidence) == 0 {
			continue
		}
		evidence := map[int64]bool{}
		for _, id := range qa.Evidence {
			if s, ok := l.seqOf[strings.TrimSpace(id)]; ok {
				evidence[s] = true
			}
		}
		if len(evidence) == 0 {
			continue
		}
		t0 := time.Now()
		hits, err := rc.Search(ctx, l.tenantID, l.conv, qa.Question, recallAt[len(recallAt)-1])
		if err != nil {
			return err
		}
		took := time.Since(t0)
		var ours [][]int64
		for _, h := range hits {
			ours = append(ours, h.SourceSeqs)
		}
		each(qa, evidence, ours, took)
	}
	return nil
}

// recallRun asks a loaded conversation's questions once: recall@10 and
// latency.
func (l *loaded) recallRun(ctx context.Context, st parley.Store) (questions int, recall10 float64, p50, p95 time.Duration, err error) {
	var lat []time.Duration
	err = l.ask(ctx, memory.Recall{Store: st, Embedder: embedder}, func(_ locomoQA, evidence map[int64]bool, hits [][]int64, took time.Duration) {
		lat = append(lat, took)
		questions++
		recall10 += coverage(hits, evidence, 10)
	})
	p50, p95 = p50p95(lat)
	return questions, recall10 / float64(max(questions, 1)), p50, p95, err
}

// MemoryScaleResult is recall in a tenant holding many other
// conversations and memories.
type MemoryScaleResult struct {
	Store              string
	Messages, Memories int // in the tenant, the LoCoMo conversation's included
	Questions          int
	// The conversation's recall@10 and latency among the others, and
	// alone in its tenant before they came (same run): scale must change
	// no answer.
	Recall10, Recall10Alone float64
	RecallP50, RecallP95    time.Duration
	AloneP50, AloneP95      time.Duration
	// The first of the two passes among the others, right after the load.
	FirstP50, FirstP95 time.Duration
	SeedTime           time.Duration
}

// MemoryAtScale loads the first LoCoMo conversation into a tenant, asks
// its questions, then fills the tenant with messages in other users'
// conversations of the same bot (100 each, LoCoMo's turns as their texts)
// and memories of those users, and asks them again: recall with the
// tenant's indexes at that size.
func MemoryAtScale(ctx context.Context, name string, st parley.Store, opts Options, messages, memories int) (*MemoryScaleResult, error) {
	files, err := locomoFiles(opts.CorpusDir)
	if err != nil {
		return nil, err
	}
	l, err := loadLoCoMo(ctx, st, files[0], "locomo-scale")
	if err != nil {
		return nil, err
	}
	res := &MemoryScaleResult{Store: name}
	if _, res.Recall10Alone, res.AloneP50, res.AloneP95, err = l.recallRun(ctx, st); err != nil {
		return nil, err
	}
	texts, _ := loadCorpus(opts.CorpusDir)
	const perConv = 100
	users := max(1, (messages+perConv-1)/perConv)
	convs := make([]string, users)
	for i := range convs {
		c, _, err := st.GetOrCreateConversation(ctx, l.tenantID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: fmt.Sprintf("filler-%d", i)}, CreateUser: true})
		if err != nil {
			return nil, err
		}
		convs[i] = c.ID
	}
	start := time.Now()
	bar := opts.meter(name+": messages and memories of other users", messages+memories)
	err = fanOut(ctx, messages+memories, 32, func(w, i int) error {
		text := texts[(i*7+w)%len(texts)]
		var err error
		if i < messages {
			_, err = st.AppendMessage(ctx, l.tenantID, convs[i%users], parley.NewMessage{Text: text, Bubbles: []string{text},
				FromBot: i%2 == 1, NoReply: true})
		} else {
			k := i - messages
			_, _, err = st.AddMemory(ctx, l.tenantID, "bot", fmt.Sprintf("filler-%d", k%users),
				parley.Fact{Kind: parley.KindFact, Text: fmt.Sprintf("%s (%d)", text, k), Confidence: 1})
		}
		if i%1000 == 999 {
			bar.Set(int64(i+1), fmt.Sprintf("%d stored (%.0f/s)", i+1, float64(i+1)/time.Since(start).Seconds()))
		}
		return err
	})
	bar.Finish()
	if err != nil {
		return nil, err
	}
	if err := indexed(ctx, st); err != nil {
		return nil, err
	}
	res.SeedTime = time.Since(start)
	if err := settle(ctx, st); err != nil {
		return nil, err
	}
	res.Messages, res.Memories = messages+len(l.turns), memories+l.memories
	// Two passes, as the history page's (History): the first meets a
	// store fresh from the load, none of its index read since; the
	// second, the figure, one that has served recall before.
	if _, _, res.FirstP50, res.FirstP95, err = l.recallRun(ctx, st); err != nil {
		return nil, err
	}
	if res.Questions, res.Recall10, res.RecallP50, res.RecallP95, err = l.recallRun(ctx, st); err != nil {
		return nil, err
	}
	return res, nil
}

// MemoryScaleTable prints the at-scale figures.
func MemoryScaleTable(rs []*MemoryScaleResult) string {
	t := newTable(rs, func(r *MemoryScaleResult) string { return r.Store })
	row := t.row
	row("messages / memories in the tenant (stored in)", "1M / 100k", func(r *MemoryScaleResult) string {
		return fmt.Sprintf("%d / %d (%v)", r.Messages, r.Memories, r.SeedTime.Round(time.Second))
	})
	row("recall@10 of one LoCoMo conversation among them (alone in its tenant, same run; questions)", "", func(r *MemoryScaleResult) string {
		return fmt.Sprintf("%.3f (%.3f; %d)", r.Recall10, r.Recall10Alone, r.Questions)
	})
	row("recall latency p50 / p95 among them, the second of two passes (the first; alone)", "p95 < 5 ms", func(r *MemoryScaleResult) string {
		return fmt.Sprintf("%.2f / %.2f ms (first pass %.2f / %.2f ms; alone %.2f / %.2f ms)", ms(r.RecallP50), ms(r.RecallP95),
			ms(r.FirstP50), ms(r.FirstP95), ms(r.AloneP50), ms(r.AloneP95))
	})
	return t.String()
}

// locomoFiles are the LoCoMo conversations of a directory.
func locomoFiles(dir string) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		return nil, fmt.Errorf("bench: no LoCoMo files in %s", dir)
	}
	return files, nil
}

// readLoCoMo reads one LoCoMo conversation's fields.
func readLoCoMo(file string) (map[string]json.RawMessage, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

// coverage is the share of evidence found in the first k hits.
func coverage(hits [][]int64, evidence map[int64]bool, k int) float64 {
	found := map[int64]bool{}
	for _, h := range hits[:min(k, len(hits))] {
		for _, s := range h {
			if evidence[s] {
				found[s] = true
			}
		}
	}
	return float64(len(found)) / float64(len(evidence))
}

// MemoryPlot draws recall@k, k = 1..20, of each store's recall and of the
// BM25 baseline (the first store's run; the baseline reads no store), with
// the target at k = 10, to an SVG or PNG file.
func MemoryPlot(rs []*MemoryResult, path string) error {
	if len(rs) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "LoCoMo: share of each question's evidence turns in the first k hits, no model"
	p.X.Label.Text = "k (hits read)"
	p.Y.Label.Text = "recall@k"
	p.Y.Min, p.Y.Max = 0, 1
	curve := func(ys []float64) plotter.XYs {
		pts := make(plotter.XYs, len(ys))
		for i, y := range ys {
			pts[i].X, pts[i].Y = float64(i+1), y
		}
		return pts
	}
	p.Add(plotter.NewGrid())
	for i, r := range rs {
		l, err := plotter.NewLine(curve(r.Curve))
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("Parley recall, "+r.Store, l)
	}
	base, err := plotter.NewLine(curve(rs[0].BaselineCurve))
	if err != nil {
		return err
	}
	base.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(base)
	p.Legend.Add("BM25 over the raw turns", base)
	target, err := plotter.NewScatter(plotter.XYs{{X: 10, Y: 0.80}})
	if err != nil {
		return err
	}
	target.Shape = draw.CrossGlyph{}
	target.Radius = vg.Points(5)
	p.Add(target)
	p.Legend.Add("target: 0.80 at k = 10", target)
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(10), vg.Points(10)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// MemoryTable prints the memory suite's figures.
func MemoryTable(rs []*MemoryResult) string {
	t := newTable(rs, func(r *MemoryResult) string { return r.Store })
	row := t.row
	row("LoCoMo conversations / turns / questions (categories 1-4)", "", func(r *MemoryResult) string {
		return fmt.Sprintf("%d / %d / %d", r.Conversations, r.Turns, r.Questions)
	})
	for _, k := range recallAt {
		target := ""
		if k == 10 {
			target = "≥ 0.80, no model"
		}
		row(fmt.Sprintf("recall@%d: Parley recall (baseline: BM25 over the raw turns, same run)", k), target, func(r *MemoryResult) string {
			return fmt.Sprintf("%.3f (%.3f, %.2f×)", r.Recall[k], r.Baseline[k], r.Recall[k]/max(r.Baseline[k], 1e-9))
		})
	}
	for _, cat := range []int{1, 2, 3, 4} {
		row(fmt.Sprintf("recall@10, category %d (baseline)", cat), "", func(r *MemoryResult) string {
			c := r.ByCategory[cat]
			return fmt.Sprintf("%.3f (%.3f)", c[0], c[1])
		})
	}
	row("memories extracted (built-in extractor)", "", func(r *MemoryResult) string { return fmt.Sprint(r.Memories) })
	row("extraction, messages read per second", "", func(r *MemoryResult) string { return fmt.Sprintf("%.0f/s", r.ExtractPerS) })
	row("recall latency p50 / p95", "p95 < 5 ms", func(r *MemoryResult) string {
		return fmt.Sprintf("%.2f ms / %.2f ms", ms(r.RecallP50), ms(r.RecallP95))
	})
	row("the same, memories by their words alone (no vectors): recall@10, latency p50 / p95", "", func(r *MemoryResult) string {
		return fmt.Sprintf("%.3f, %.2f / %.2f ms", r.WordsOnly10, ms(r.WordsOnlyP50), ms(r.WordsOnlyP95))
	})
	return t.String()
}

// MemoryLagResult is how far memories trail a steady stream of user
// messages.
type MemoryLagResult struct {
	Store         string
	Conversations int
	Target        float64 // user messages per second asked for
	Achieved      float64
	Messages      int
	LagP50        time.Duration
	LagP99        time.Duration
	Unread        int // messages still not read when the run ended (after a grace period)
}

// MemoryLag appends user messages at rate per second, spread over conv
// conversations, for opts.Duration, into a store whose memory workers run,
// and measures each message's lag: from its append returning to its
// conversation's memories_seq covering it, seen by polling every 20 ms.
// The time a job waits in the queue is part of it.
func MemoryLag(ctx context.Context, name string, st parley.Store, rate float64, conv int, opts Options) (*MemoryLagResult, error) {
	tenant, err := st.EnsureTenant(ctx, "memory-lag")
	if err != nil {
		return nil, err
	}
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"}); err != nil {
		return nil, err
	}
	convs := make([]*parley.Conversation, conv)
	for i := range convs {
		if convs[i], _, err = st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: fmt.Sprintf("u%d", i)}, CreateUser: true}); err != nil {
			return nil, err
		}
	}
	type sent struct {
		seq int64
		at  time.Time
	}
	var mu sync.Mutex
	pending := make([][]sent, conv)
	var lags []time.Duration
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() { // the poller
		defer close(polled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i, c := range convs {
				got, err := st.GetConversation(ctx, tenant.ID, c.ID)
				if err != nil {
					continue
				}
				now := time.Now()
				mu.Lock()
				k := 0
				for _, p := range pending[i] {
					if p.seq <= got.MemoriesSeq {
						lags = append(lags, now.Sub(p.at))
						k++
					} else {
						break
					}
				}
				pending[i] = pending[i][k:]
				mu.Unlock()
			}
		}
	}()
	texts := []string{"My name is Ana and I live in Madrid", "I have a dog named Rufo", "I really love pizza",
		"I'm going to visit Paris next week", "What time do you open?", "I work as a nurse"}
	// Appenders share the rate, as a server's clients would (one alone
	// would wait for every commit in turn).
	const appenders = 16
	start := time.Now()
	interval := time.Duration(float64(time.Second) * appenders / rate)
	var wg sync.WaitGroup
	var count atomic.Int64
	var errMu sync.Mutex
	var appendErr error
	for a := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, next := 0, start.Add(time.Duration(a)*interval/appenders); time.Since(start) < opts.Duration; k, next = k+1, next.Add(interval) {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				i := (a + k*appenders) % conv
				text := texts[(a+k)%len(texts)]
				r, err := st.AppendMessage(ctx, tenant.ID, convs[i].ID, parley.NewMessage{Text: text, Bubbles: []string{text}, NoReply: true})
				if err != nil {
					errMu.Lock()
					appendErr = err
					errMu.Unlock()
					return
				}
				mu.Lock()
				pending[i] = append(pending[i], sent{r.Message.Seq, time.Now()})
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	n := int(count.Load())
	elapsed := time.Since(start)
	// Let the workers catch up: up to the debounce and a few seconds more.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := 0
		for _, p := range pending {
			left += len(p)
		}
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-polled
	if appendErr != nil {
		return nil, appendErr
	}
	res := &MemoryLagResult{Store: name, Conversations: conv, Target: rate, Achieved: float64(n) / elapsed.Seconds(), Messages: n}
	for _, p := range pending {
		res.Unread += len(p)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) > 0 {
		res.LagP50, res.LagP99 = lags[len(lags)/2], lags[len(lags)*99/100]
	}
	return res, nil
}

// MemoryLagTable prints the lag figures.
func MemoryLagTable(rs []*MemoryLagResult) string {
	t := newTable(rs, func(r *MemoryLagResult) string { return r.Store })
	row := t.row
	row("user messages appended per second (asked), conversations", "1,000/s", func(r *MemoryLagResult) string {
		return fmt.Sprintf("%.0f/s (%.0f), %d", r.Achieved, r.Target, r.Conversations)
	})
	row("memory lag p50 / p99 (append to memories_seq covering it)", "p99 < 2 s", func(r *MemoryLagResult) string {
		return fmt.Sprintf("%.0f ms / %.0f ms", ms(r.LagP50), ms(r.LagP99))
	})
	row("messages never read within 10 s of the end", "0", func(r *MemoryLagResult) string { return fmt.Sprint(r.Unread) })
	return t.String()
}

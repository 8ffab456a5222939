// Package bench measures the stateful core on a real store through the real
// HTTP API on loopback, against a baseline measured in the same run: the raw
// rate of one-row INSERT transactions on the same database. It prints a
// Markdown table, the one the README shows.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/httpapi"
)

// Store is what the benchmark needs: the API's store plus a raw insert of
// one message row in its own transaction, the baseline.
type Store interface {
	parley.Store
	RawInsert(ctx context.Context, tenantID, conversationID string, seq int64, text string) error
}

// Options size a run.
type Options struct {
	Duration  time.Duration // each throughput phase
	Clients   int           // concurrent HTTP clients for appends
	Messages  int           // messages stored for the read phases
	PerConv   int           // messages per conversation when seeding
	Samples   int           // requests per latency phase
	CorpusDir string        // LoCoMo JSON files for realistic text
	Log       io.Writer     // progress lines
	// Progress shows a counted phase's progress (a bar on a terminal);
	// nil shows none. Meters are set from many goroutines.
	Progress func(label string, total int64) Meter
	// Dir is the directory of the store's files (SQLite), where the
	// fsync floor is measured too; empty is the system's temporary one.
	Dir string
}

// Meter is one phase's progress.
type Meter interface {
	Set(done int64, detail string)
	Finish()
}

type noMeter struct{}

func (noMeter) Set(int64, string) {}
func (noMeter) Finish()           {}

// meter starts a phase's progress, or none.
func (o Options) meter(label string, total int) Meter {
	if o.Progress == nil {
		return noMeter{}
	}
	return o.Progress(label, int64(total))
}

// Result is one store's figures.
type Result struct {
	Store          string
	RawInsertsPerS float64
	AppendsPerS    float64
	AppendP50      time.Duration
	AppendP99      time.Duration
	SeededMessages int
	SeedTime       time.Duration
	HistoryP50     time.Duration
	HistoryP99     time.Duration
	// The history page's first pass, right after the load (history).
	HistoryFirstP50, HistoryFirstP99 time.Duration
	SearchP50                        time.Duration
	SearchP95                        time.Duration
	SearchHitsAvg                    float64
}

type env struct {
	store  Store
	opts   Options
	tenant *parley.Tenant
	token  string
	api    *client.Client
	corpus []string
	words  []string
	body   bytes.Buffer // get's answer, reused
}

// Run benchmarks one store.
func Run(ctx context.Context, name string, st Store, opts Options) (*Result, error) {
	e := &env{store: st, opts: opts}
	e.corpus, e.words = loadCorpus(opts.CorpusDir)
	var err error
	if e.tenant, err = st.EnsureTenant(ctx, "bench"); err != nil {
		return nil, err
	}
	secret, hash := parley.NewToken()
	if _, err := st.CreateToken(ctx, e.tenant.ID, "bench", true, hash); err != nil {
		return nil, err
	}
	e.token = secret
	if _, err := st.CreateBot(ctx, e.tenant.ID, &parley.Bot{ID: "bench-bot"}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: httpapi.New(httpapi.Config{Store: st})}
	go srv.Serve(ln)
	defer srv.Close()
	e.api = &client.Client{BaseURL: "http://" + ln.Addr().String(), Token: e.token,
		HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients * 2}}}

	r := &Result{Store: name}
	if err := e.raw(ctx, r); err != nil {
		return nil, fmt.Errorf("raw inserts: %w", err)
	}
	if err := e.appends(ctx, r); err != nil {
		return nil, fmt.Errorf("appends: %w", err)
	}
	convs, err := e.seed(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := e.history(ctx, r, convs); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if err := e.search(ctx, r); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return r, nil
}

func (e *env) logf(format string, args ...any) {
	if e.opts.Log != nil {
		fmt.Fprintf(e.opts.Log, format+"\n", args...)
	}
}

func (e *env) conversation(ctx context.Context, user string) (string, error) {
	c, _, err := e.store.GetOrCreateConversation(ctx, e.tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: "bench-bot", UserID: user}, CreateUser: true})
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// raw measures the baseline: one message row per transaction, one writer.
func (e *env) raw(ctx context.Context, r *Result) error {
	conv, err := e.conversation(ctx, "raw")
	if err != nil {
		return err
	}
	n := 0
	start := time.Now()
	for time.Since(start) < e.opts.Duration {
		n++
		if err := e.store.RawInsert(ctx, e.tenant.ID, conv, int64(n), e.corpus[n%len(e.corpus)]); err != nil {
			return err
		}
	}
	r.RawInsertsPerS = float64(n) / time.Since(start).Seconds()
	e.logf("%s raw inserts: %.0f/s", r.Store, r.RawInsertsPerS)
	return nil
}

// appends measures POST /api/conversations/{id}/messages from many clients.
func (e *env) appends(ctx context.Context, r *Result) error {
	convs := make([]string, 256)
	for i := range convs {
		var err error
		if convs[i], err = e.conversation(ctx, fmt.Sprintf("append-%d", i)); err != nil {
			return err
		}
	}
	var total atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	deadline := time.Now().Add(e.opts.Duration)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range e.opts.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				conv := convs[rng.IntN(len(convs))]
				t0 := time.Now()
				if _, err := e.api.Send(ctx, conv, e.corpus[rng.IntN(len(e.corpus))], false); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				local = append(local, time.Since(t0))
				total.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	r.AppendsPerS = float64(total.Load()) / time.Since(start).Seconds()
	r.AppendP50, r.AppendP99 = pct(lat, 50), pct(lat, 99)
	e.logf("%s HTTP appends: %.0f/s (p50 %v, p99 %v)", r.Store, r.AppendsPerS, r.AppendP50, r.AppendP99)
	return nil
}

// seed stores opts.Messages messages through the store (not HTTP: this
// phase only builds the data set the read phases measure).
func (e *env) seed(ctx context.Context, r *Result) ([]string, error) {
	nconv := max(1, e.opts.Messages/e.opts.PerConv)
	convs := make([]string, nconv)
	for i := range convs {
		var err error
		if convs[i], err = e.conversation(ctx, fmt.Sprintf("seed-%d", i)); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	bar := e.opts.meter(r.Store+": seeding messages", e.opts.Messages)
	defer bar.Finish()
	if err := fanOut(ctx, e.opts.Messages, 32, func(w, i int) error {
		text := e.corpus[(i*7+w)%len(e.corpus)]
		if _, err := e.store.AppendMessage(ctx, e.tenant.ID, convs[i%nconv],
			parley.NewMessage{Text: text, Bubbles: []string{text}, FromBot: i%2 == 1}); err != nil {
			return err
		}
		if i%1000 == 999 {
			bar.Set(int64(i+1), fmt.Sprintf("%d messages (%.0f/s)", i+1, float64(i+1)/time.Since(start).Seconds()))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Wait until search sees the last message (the SQLite index trails).
	if ix, ok := e.store.(interface {
		IndexPending(context.Context) (int, error)
	}); ok {
		for {
			n, err := ix.IndexPending(ctx)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				break
			}
		}
	}
	r.SeededMessages, r.SeedTime = e.opts.Messages, time.Since(start)
	e.logf("%s seeded %d messages in %v", r.Store, e.opts.Messages, r.SeedTime.Round(time.Second))
	t0 := time.Now()
	if err := settle(ctx, e.store); err != nil {
		return nil, err
	}
	e.logf("%s settled in %v", r.Store, time.Since(t0).Round(time.Second))
	return convs, nil
}

// settle asks a store that can do its maintenance after a bulk load now
// (PostgreSQL's vacuum and checkpoint, SQLite's due full merge of its
// full-text index) to do it, so that the read phases measure a store at
// rest, not one still working through the load's maintenance beside them
// on the same cores.
func settle(ctx context.Context, st any) error {
	if s, ok := st.(interface{ Settle(context.Context) error }); ok {
		if err := s.Settle(ctx); err != nil {
			return fmt.Errorf("settle after seeding: %w", err)
		}
	}
	return nil
}

// history measures GET .../messages?limit=50: the newest or the oldest
// page of a random conversation. It runs twice, over different
// conversations: the first pass meets a server fresh from the load, the
// second one that has served a while; both are reported, the second is
// the figure. (On PostgreSQL a fresh process's first few thousand pages
// were slower whether or not the table was in PostgreSQL's cache; the
// cause was not separated further.)
func (e *env) history(ctx context.Context, r *Result, convs []string) error {
	pass := func(seed uint64) (p50, p99 time.Duration, err error) {
		rng := rand.New(rand.NewPCG(seed, seed))
		lat := make([]time.Duration, 0, e.opts.Samples)
		for i := range e.opts.Samples {
			path := "/api/conversations/" + convs[rng.IntN(len(convs))] + "/messages?limit=50&order=desc"
			if i%2 == 1 {
				path = "/api/conversations/" + convs[rng.IntN(len(convs))] + "/messages?limit=50"
			}
			t0 := time.Now()
			if _, err := e.get(ctx, path); err != nil {
				return 0, 0, err
			}
			lat = append(lat, time.Since(t0))
		}
		return pct(lat, 50), pct(lat, 99), nil
	}
	var err error
	if r.HistoryFirstP50, r.HistoryFirstP99, err = pass(8); err != nil {
		return err
	}
	e.logf("%s history page, first pass: p50 %v p99 %v", r.Store, r.HistoryFirstP50, r.HistoryFirstP99)
	if r.HistoryP50, r.HistoryP99, err = pass(7); err != nil {
		return err
	}
	e.logf("%s history page: p50 %v p99 %v", r.Store, r.HistoryP50, r.HistoryP99)
	return nil
}

// search measures GET /api/conversations?q= with words from the corpus.
func (e *env) search(ctx context.Context, r *Result) error {
	rng := rand.New(rand.NewPCG(9, 9))
	lat := make([]time.Duration, 0, e.opts.Samples)
	hits := 0
	for range e.opts.Samples {
		q := e.words[rng.IntN(len(e.words))]
		if rng.IntN(3) == 0 {
			q += " " + e.words[rng.IntN(len(e.words))]
		}
		t0 := time.Now()
		body, err := e.get(ctx, "/api/conversations?limit=20&q="+url.QueryEscape(q))
		if err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		var out struct {
			Conversations []json.RawMessage `json:"conversations"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		hits += len(out.Conversations)
	}
	r.SearchP50, r.SearchP95 = pct(lat, 50), pct(lat, 95)
	r.SearchHitsAvg = float64(hits) / float64(e.opts.Samples)
	e.logf("%s search: p50 %v p95 %v (%.1f hits/query)", r.Store, r.SearchP50, r.SearchP95, r.SearchHitsAvg)
	return nil
}

// get reads a GET answer's bytes without decoding them: the read phases
// measure the server's answer, not a client's JSON decoding (the client
// package decodes into the domain's types, which would add its own time).
// The bytes are valid until the next get: they are read into one buffer,
// since this client shares the server's process and its collector, and a
// fresh buffer per answer (io.ReadAll's) would add a third to what the
// collector clears while a history page is timed.
func (e *env) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.api.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.api.Token)
	res, err := e.api.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	e.body.Reset()
	_, err = e.body.ReadFrom(res.Body)
	b := e.body.Bytes()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d: %s", path, res.StatusCode, b)
	}
	return b, err
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// loadCorpus reads the LoCoMo turns as message texts and picks search words
// of middling frequency (not stop words, not hapaxes). Without the data it
// falls back to generated sentences.
func loadCorpus(dir string) (texts, words []string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var conv map[string]json.RawMessage
		if json.Unmarshal(b, &conv) != nil {
			continue
		}
		for k, v := range conv {
			if !strings.HasPrefix(k, "session_") || strings.HasSuffix(k, "date_time") {
				continue
			}
			var turns []struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(v, &turns) == nil {
				for _, t := range turns {
					texts = append(texts, t.Text)
				}
			}
		}
	}
	if len(texts) == 0 {
		vocab := strings.Fields("order pizza refund delivery account password shipping invoice weekend concert " +
			"painting hiking camping family garden guitar yoga museum coffee travel support ticket")
		rng := rand.New(rand.NewPCG(1, 2))
		for range 5000 {
			n := 5 + rng.IntN(15)
			w := make([]string, n)
			for i := range w {
				w[i] = vocab[rng.IntN(len(vocab))]
			}
			texts = append(texts, strings.Join(w, " "))
		}
	}
	sort.Strings(texts)
	counts := map[string]int{}
	for _, t := range texts {
		for _, w := range parley.SearchTerms(t) {
			if len(w) >= 5 {
				counts[w]++
			}
		}
	}
	for w, c := range counts {
		if c >= 5 && c <= len(texts)/50 {
			words = append(words, w)
		}
	}
	sort.Strings(words)
	return texts, words
}

// Table renders results as Markdown, with the targets of issue #2.
func Table(rs []*Result) string {
	var b strings.Builder
	b.WriteString("| measure | target |")
	for _, r := range rs {
		b.WriteString(" " + r.Store + " |")
	}
	b.WriteString("\n|---|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name, target string, f func(r *Result) string) {
		b.WriteString("| " + name + " | " + target + " |")
		for _, r := range rs {
			b.WriteString(" " + f(r) + " |")
		}
		b.WriteString("\n")
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	row("raw insert, 1 row/txn (baseline)", "", func(r *Result) string { return fmt.Sprintf("%.0f/s", r.RawInsertsPerS) })
	row("HTTP appends", "≥ 10,000/s (SQLite)", func(r *Result) string { return fmt.Sprintf("%.0f/s", r.AppendsPerS) })
	row("HTTP appends ÷ raw inserts", "≥ 0.5", func(r *Result) string { return fmt.Sprintf("%.2f×", r.AppendsPerS/r.RawInsertsPerS) })
	row("append latency p50 / p99", "", func(r *Result) string { return ms(r.AppendP50) + " / " + ms(r.AppendP99) })
	row("messages stored for reads", "1M", func(r *Result) string { return fmt.Sprintf("%d", r.SeededMessages) })
	row("history page (50) p50 / p99", "p99 < 2 ms", func(r *Result) string {
		return ms(r.HistoryP50) + " / " + ms(r.HistoryP99) + " (first pass " + ms(r.HistoryFirstP50) + " / " + ms(r.HistoryFirstP99) + ")"
	})
	row("full-text search p50 / p95", "p95 < 20 ms", func(r *Result) string {
		return ms(r.SearchP50) + " / " + ms(r.SearchP95) + fmt.Sprintf(" (%.1f hits)", r.SearchHitsAvg)
	})
	return b.String()
}

// fanOut calls fn(w, i) for every i below n on workers goroutines (w is
// the goroutine's number, for state of its own) and returns the first
// error; the other goroutines stop before their next item.
func fanOut(ctx context.Context, n, workers int, fn func(w, i int) error) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return nil
				}
				if err := fn(w, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

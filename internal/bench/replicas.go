package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/llm/llmtest"
)

// ReplicasResult is the replies a second that n replicas of the real
// binary on one PostgreSQL make, for each n measured.
type ReplicasResult struct {
	Counts     []int
	PerSecond  []float64
	ModelDelay time.Duration // each completion's time at the model
	Clients    int
}

// cleanups collects what a run started, for llmtest.New.
type cleanups []func()

func (c *cleanups) Cleanup(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// Replicas measures, for each count n, n replicas (bin serve) sharing a
// fresh schema of the PostgreSQL at pgURL and one model endpoint on
// loopback (llmtest: the OpenAI wire protocol) that takes delay over each
// completion. clients each send a user message to a replica (round-robin)
// and wait for its reply (?wait), again and again, for opts.Duration: the
// model's time is spent waiting, not on the database, so replicas add
// workers (PARLEY_WORKERS each) and the figure is how far their writes to
// one database keep up.
func Replicas(ctx context.Context, bin, pgURL string, counts []int, delay time.Duration, clients int, opts Options) (*ReplicasResult, error) {
	var done cleanups
	defer done.run()
	model := llmtest.New(&done)
	model.Always(llmtest.Step{Delay: delay, Text: "Noted, thank you."})
	corpus, _ := loadCorpus(opts.CorpusDir)
	if len(corpus) == 0 {
		corpus = []string{"hello there"}
	}
	r := &ReplicasResult{Counts: counts, ModelDelay: delay, Clients: clients}
	for _, n := range counts {
		perSecond, err := replicasRun(ctx, bin, pgURL, model.BaseURL(), n, clients, corpus, opts)
		if err != nil {
			return nil, fmt.Errorf("%d replicas: %w", n, err)
		}
		r.PerSecond = append(r.PerSecond, perSecond)
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "postgres, %d replicas: %.0f replies/s\n", n, perSecond)
		}
	}
	return r, nil
}

func replicasRun(ctx context.Context, bin, pgURL, modelURL string, n, clients int, corpus []string, opts Options) (float64, error) {
	schema := fmt.Sprintf("bench_replicas_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return 0, err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		conn.Close(context.WithoutCancel(ctx))
	}()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return 0, err
	}
	sep := "?"
	if strings.Contains(pgURL, "?") {
		sep = "&"
	}
	token := "prly_bench-replicas"
	var replicas []*client.Client
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.CommandContext(ctx, bin, "serve")
		cmd.Env = append(os.Environ(), "PARLEY_ADDR="+addr, "PARLEY_DATABASE_URL="+pgURL+sep+"search_path="+schema,
			"PARLEY_BOOTSTRAP_TOKEN="+token, "PARLEY_LLM_BASE_URL="+modelURL, "PARLEY_LLM_MODEL=bench",
			"PARLEY_ALLOW_PRIVATE_NETWORKS=true", "PARLEY_LOG_LEVEL=warn", "PARLEY_RATE_TOKEN=0", "PARLEY_RATE_TENANT=0")
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		// Every client's connection kept: http.DefaultTransport keeps two
		// idle per host and would dial again for nearly every message.
		c := &client.Client{BaseURL: "http://" + addr, Token: token,
			HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}}
		if err := started(ctx, c); err != nil {
			return 0, err
		}
		replicas = append(replicas, c)
	}
	if _, err := replicas[0].CreateBot(ctx, client.Bot{ID: "bot", Name: "Bench", Reply: &parley.ReplySettings{DebounceMS: new(0)}}); err != nil {
		return 0, err
	}
	convs := make([]string, clients)
	for i := range convs {
		c, err := replicas[0].Conversation(ctx, "bot", "u"+strconv.Itoa(i))
		if err != nil {
			return 0, err
		}
		convs[i] = c.ID
	}
	var replied atomic.Int64
	var firstErr error
	var once sync.Once
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := replicas[i%n]
			for k := 0; runCtx.Err() == nil; k++ {
				sent, err := c.SendAndWait(runCtx, convs[i], corpus[(i*31+k)%len(corpus)], 30*time.Second)
				switch {
				case runCtx.Err() != nil:
					return
				case err != nil:
					once.Do(func() { firstErr = err })
					return
				case sent.ReplyStatus == "replied":
					replied.Add(1)
				default:
					once.Do(func() { firstErr = errors.New("a reply " + sent.ReplyStatus) })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(replied.Load()) / time.Since(start).Seconds(), nil
}

// ReplicasTable renders the comparison as Markdown.
func ReplicasTable(r *ReplicasResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| replicas on one PostgreSQL (%d clients, model %v per completion) | replies/s | ÷ one replica |\n|---|---|---|\n",
		r.Clients, r.ModelDelay)
	for i, n := range r.Counts {
		fmt.Fprintf(&b, "| %d | %.0f | %.2f× |\n", n, r.PerSecond[i], r.PerSecond[i]/r.PerSecond[0])
	}
	return b.String()
}

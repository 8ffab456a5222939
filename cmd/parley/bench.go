package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/rank"
	"github.com/parley-chat/parley/reply"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/sqlite"
	"github.com/parley-chat/parley/webhook"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stores := fs.String("stores", "sqlite,postgres", "stores to measure: sqlite, postgres, and sqlite-tmpfs (SQLite in /dev/shm: what the store costs without the disk)")
	suite := fs.String("suite", "core,replies", "what to measure: core (appends, history, search), replies, delivery, v1v3, memory (LoCoMo recall), content (the library), replicas (replies through 1 and 3 replicas of this binary on PostgreSQL)")
	replicaClients := fs.Int("replica-clients", 300, "clients of the replicas suite, each waiting for its reply before it sends again")
	modelDelay := fs.Duration("model-delay", 500*time.Millisecond, "the replicas suite's model endpoint's time per completion")
	contentItems := fs.Int("content-items", 100_000, "items in one bot's library for the content suite's search latency")
	scaleMessages := fs.Int("memory-scale-messages", 1_000_000, "messages of other users in the tenant for the memory suite's recall at scale (0: not measured)")
	scaleMemories := fs.Int("memory-scale-memories", 100_000, "memories of other users in the tenant for the memory suite's recall at scale")
	contentIngest := fs.Int("content-ingest", 10_000, "images the content suite fetches from a local server")
	streams := fs.Int("streams", 50_000, "event streams the delivery suite opens to measure their memory (fewer if the open-file limit cannot be raised)")
	plotPath := fs.String("plot", "docs/v1-vs-v3.svg", "where the v1v3 suite draws its plot")
	memoryPlot := fs.String("memory-plot", "docs/memory-recall.svg", "where the memory suite draws its plot (recall@k)")
	memoryJobs := fs.Int("memory-workers", 4, "memory jobs run at once in the replies and memory suites, as in a server (0 in replies: none, the replies alone)")
	pgURL := fs.String("postgres-url", os.Getenv("PARLEY_BENCH_POSTGRES_URL"), "PostgreSQL to measure (PARLEY_BENCH_POSTGRES_URL)")
	var opts bench.Options
	fs.DurationVar(&opts.Duration, "duration", 10*time.Second, "length of each throughput phase")
	fs.IntVar(&opts.Clients, "clients", 64, "concurrent HTTP clients appending")
	fs.IntVar(&opts.Messages, "messages", 1_000_000, "messages stored before the read phases")
	fs.IntVar(&opts.PerConv, "per-conversation", 100, "messages per conversation when seeding")
	fs.IntVar(&opts.Samples, "samples", 2000, "requests per latency phase")
	fs.StringVar(&opts.CorpusDir, "corpus", "../shared/data/locomo", "LoCoMo JSON files used as message text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write a profile of the run's allocations to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	opts.Log = stderr
	opts.Progress = func(label string, total int64) bench.Meter { return newProgress(stderr, label, total, false) }
	// memoryWorkers run memory jobs in the suites that set it (replies: as
	// a server does, extraction shares the store with the replies).
	memoryWorkers := 0
	open := func(name string, workers *river.Workers, hub *live.Hub) (bench.Store, error) {
		switch name {
		case "sqlite", "sqlite-tmpfs":
			dir, err := os.MkdirTemp(storeDir(name), "parley-bench")
			if err != nil {
				return nil, err
			}
			db, err := sqlite.Open(ctx, filepath.Join(dir, "parley.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler),
				Queue: sqlite.QueueOptions{Workers: workers, MemoryConcurrency: memoryWorkers}, Hub: hub})
			if err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			return tempSQLite{db, dir}, nil
		case "postgres":
			if *pgURL == "" {
				return nil, fmt.Errorf("bench: --postgres-url is required for postgres")
			}
			schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
			db, err := postgres.Open(ctx, *pgURL, postgres.Options{Schema: schema,
				Queue: postgres.QueueOptions{Workers: workers, MemoryConcurrency: memoryWorkers}, Hub: hub})
			if err != nil {
				return nil, err
			}
			return tempPostgres{db, *pgURL, schema}, nil
		}
		return nil, fmt.Errorf("bench: unknown store %q", name)
	}
	if strings.Contains(*suite, "replicas") {
		if *pgURL == "" {
			return fmt.Errorf("bench replicas: --postgres-url is required")
		}
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		r, err := bench.Replicas(ctx, bin, *pgURL, []int{1, 3}, *modelDelay, *replicaClients, opts)
		if err != nil {
			return fmt.Errorf("bench replicas: %w", err)
		}
		fmt.Fprint(stdout, bench.ReplicasTable(r))
		if *suite == "replicas" {
			return nil
		}
	}
	if strings.Contains(*suite, "v1v3") {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		r, err := bench.V1V3(ctx, bin, 100, opts)
		if err != nil {
			return fmt.Errorf("bench v1v3: %w", err)
		}
		fmt.Fprint(stdout, bench.V1V3Table(r))
		if err := bench.V1V3Plot(r, *plotPath); err != nil {
			return fmt.Errorf("bench v1v3 plot: %w", err)
		}
		if *suite == "v1v3" {
			return nil
		}
	}
	var core []*bench.Result
	var replies []*bench.ReplyResult
	for _, name := range strings.Split(*stores, ",") {
		opts.Dir = storeDir(name)
		if strings.Contains(*suite, "core") {
			st, err := open(name, nil, nil)
			if err != nil {
				return err
			}
			r, err := bench.Run(ctx, name, st, opts)
			st.Close()
			if err != nil {
				return fmt.Errorf("bench %s: %w", name, err)
			}
			core = append(core, r)
		}
		if strings.Contains(*suite, "replies") {
			workers := river.NewWorkers()
			hub := live.NewHub()
			memoryWorkers = *memoryJobs
			st, err := open(name, workers, hub)
			memoryWorkers = 0
			if err != nil {
				return err
			}
			if *memoryJobs > 0 {
				river.AddWorker(workers, &memory.Worker{Store: st, Embedder: rank.Hashing{}})
			}
			r, err := bench.Replies(ctx, name, st, hub, func(w *reply.Worker) {
				w.Retrieval = memory.Recall{Store: st, Embedder: rank.Hashing{}} // as serve wires it
				river.AddWorker(workers, w)
			},
				func() error { return st.StartWorkers(ctx) }, opts)
			if err == nil {
				var exec riverdriver.Executor
				exec, r.OneWriter = queueExecutor(st)
				r.Queue, err = bench.QueueFloor(ctx, exec, 25, 80)
				if err == nil && opts.Log != nil {
					fmt.Fprintf(opts.Log, "%s queue writes per job: insert %v fetch %v complete %v\n", name, r.Queue.Insert, r.Queue.Fetch, r.Queue.Complete)
				}
			}
			st.Close()
			if err != nil {
				return fmt.Errorf("bench replies %s: %w", name, err)
			}
			replies = append(replies, r)
		}
	}
	var memories []*bench.MemoryResult
	for _, name := range strings.Split(*stores, ",") {
		if !strings.Contains(*suite, "memory") {
			break
		}
		st, err := open(name, nil, nil)
		if err != nil {
			return err
		}
		r, err := bench.Memory(ctx, name, st, opts)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench memory %s: %w", name, err)
		}
		memories = append(memories, r)
	}
	if len(memories) > 0 && *memoryPlot != "" {
		if err := bench.MemoryPlot(memories, *memoryPlot); err != nil {
			return fmt.Errorf("bench memory plot: %w", err)
		}
	}
	var scaled []*bench.MemoryScaleResult
	for _, name := range strings.Split(*stores, ",") {
		if !strings.Contains(*suite, "memory") || *scaleMessages <= 0 {
			break
		}
		st, err := open(name, nil, nil)
		if err != nil {
			return err
		}
		r, err := bench.MemoryAtScale(ctx, name, st, opts, *scaleMessages, *scaleMemories)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench memory at scale %s: %w", name, err)
		}
		scaled = append(scaled, r)
	}
	var lags []*bench.MemoryLagResult
	for _, name := range strings.Split(*stores, ",") {
		if !strings.Contains(*suite, "memory") {
			break
		}
		workers := river.NewWorkers()
		memoryWorkers = *memoryJobs
		st, err := open(name, workers, nil)
		memoryWorkers = 0
		if err != nil {
			return err
		}
		river.AddWorker(workers, &memory.Worker{Store: st, Embedder: rank.Hashing{}})
		if err := st.StartWorkers(ctx); err != nil {
			return err
		}
		r, err := bench.MemoryLag(ctx, name, st, 1000, 200, opts)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench memory lag %s: %w", name, err)
		}
		lags = append(lags, r)
	}
	if len(memories) > 0 {
		fmt.Fprint(stdout, bench.MemoryTable(memories))
		fmt.Fprintln(stdout)
		fmt.Fprint(stdout, bench.MemoryLagTable(lags))
		if len(scaled) > 0 {
			fmt.Fprintln(stdout)
			fmt.Fprint(stdout, bench.MemoryScaleTable(scaled))
		}
	}
	var libraries []*bench.ContentResult
	for _, name := range strings.Split(*stores, ",") {
		if !strings.Contains(*suite, "content") {
			break
		}
		opts.Dir = storeDir(name)
		st, err := open(name, nil, nil)
		if err != nil {
			return err
		}
		r, err := bench.Content(ctx, name, st, opts, *contentIngest, *contentItems)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench content %s: %w", name, err)
		}
		libraries = append(libraries, r)
	}
	if len(libraries) > 0 {
		fmt.Fprint(stdout, bench.ContentTable(libraries))
	}
	var deliveries []*bench.DeliveryResult
	for _, name := range strings.Split(*stores, ",") {
		if !strings.Contains(*suite, "delivery") {
			break
		}
		workers := river.NewWorkers()
		st, err := open(name, workers, nil)
		if err != nil {
			return err
		}
		river.AddWorker(workers, &webhook.Worker{Store: st, Client: egress.NewClient(egress.Options{AllowPrivate: true, Timeout: webhook.Timeout})})
		if err := st.StartWorkers(ctx); err != nil {
			return err
		}
		r, err := bench.Deliveries(ctx, name, st, opts)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench delivery %s: %w", name, err)
		}
		deliveries = append(deliveries, r)
	}
	if len(deliveries) > 0 {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		sr, err := bench.Streams(ctx, bin, *streams)
		if err != nil {
			return fmt.Errorf("bench streams: %w", err)
		}
		fmt.Fprint(stdout, bench.DeliveryTable(deliveries, sr))
	}
	if len(core) > 0 {
		fmt.Fprint(stdout, bench.Table(core))
	}
	if len(replies) > 0 {
		fmt.Fprintln(stdout)
		fmt.Fprint(stdout, bench.ReplyTable(replies))
	}
	return nil
}

// storeDir is where a benchmark store keeps its files: tmpfs for
// sqlite-tmpfs, the temporary directory otherwise.
func storeDir(name string) string {
	if name == "sqlite-tmpfs" {
		return "/dev/shm"
	}
	return ""
}

// queueExecutor is River's driver on st's database, for QueueFloor, and
// whether the database takes one writer at a time.
func queueExecutor(st any) (riverdriver.Executor, bool) {
	switch s := st.(type) {
	case tempSQLite:
		return riversqlite.New(s.Writer()).GetExecutor(), true
	case tempPostgres:
		return riverpgxv5.New(s.Pool()).GetExecutor(), false
	}
	panic(fmt.Sprintf("bench: no queue driver for %T", st))
}

// tempSQLite is a benchmark's SQLite store, removed when closed: a suite's
// gigabyte of data must neither fill the disk nor be written back while
// the next suite measures.
type tempSQLite struct {
	*sqlite.DB
	dir string
}

func (s tempSQLite) Close() error {
	err := s.DB.Close()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// tempPostgres is a benchmark's PostgreSQL store in a schema of its own,
// dropped when closed, for the same reasons.
type tempPostgres struct {
	*postgres.DB
	url, schema string
}

// Settle does after a bulk load what PostgreSQL's autovacuum would do
// soon after it (vacuum, the full-text index's pending list merged,
// statistics) and then a checkpoint, so that the reads measured next do
// not share the machine with them.
func (s tempPostgres) Settle(ctx context.Context) error {
	for _, stmt := range []string{`VACUUM (ANALYZE) messages, conversations`, `CHECKPOINT`} {
		if _, err := s.Pool().Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

func (s tempPostgres) Close() error {
	if err := s.DB.Close(); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{s.schema}.Sanitize()+` CASCADE`)
	return err
}

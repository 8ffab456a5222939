package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/sqlite"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stores := fs.String("stores", "sqlite,postgres", "stores to measure")
	pgURL := fs.String("postgres-url", os.Getenv("PARLEY_BENCH_POSTGRES_URL"), "PostgreSQL to measure (PARLEY_BENCH_POSTGRES_URL)")
	var opts bench.Options
	fs.DurationVar(&opts.Duration, "duration", 10*time.Second, "length of each throughput phase")
	fs.IntVar(&opts.Clients, "clients", 64, "concurrent HTTP clients appending")
	fs.IntVar(&opts.Messages, "messages", 1_000_000, "messages stored before the read phases")
	fs.IntVar(&opts.PerConv, "per-conversation", 100, "messages per conversation when seeding")
	fs.IntVar(&opts.Samples, "samples", 2000, "requests per latency phase")
	fs.StringVar(&opts.CorpusDir, "corpus", "../shared/data/locomo", "LoCoMo JSON files used as message text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
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
	opts.Log = stderr
	var results []*bench.Result
	for _, name := range strings.Split(*stores, ",") {
		var st interface {
			bench.Store
			Close() error
		}
		var err error
		switch name {
		case "sqlite":
			dir, derr := os.MkdirTemp("", "parley-bench")
			if derr != nil {
				return derr
			}
			defer os.RemoveAll(dir)
			st, err = sqlite.Open(ctx, filepath.Join(dir, "parley.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
		case "postgres":
			if *pgURL == "" {
				return fmt.Errorf("bench: --postgres-url is required for postgres")
			}
			st, err = postgres.Open(ctx, *pgURL, postgres.Options{Schema: fmt.Sprintf("bench_%d", time.Now().Unix())})
		default:
			return fmt.Errorf("bench: unknown store %q", name)
		}
		if err != nil {
			return err
		}
		r, err := bench.Run(ctx, name, st, opts)
		st.Close()
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		results = append(results, r)
	}
	fmt.Fprint(stdout, bench.Table(results))
	return nil
}

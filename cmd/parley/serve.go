package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/llm"
	"github.com/parley-chat/parley/memory"
	"github.com/parley-chat/parley/rank"
	"github.com/parley-chat/parley/reply"
	"github.com/parley-chat/parley/retention"
	"github.com/parley-chat/parley/webhook"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.scheduleErr != nil {
		return cfg.scheduleErr
	}
	logger := cfg.logger(stderr)
	workers := river.NewWorkers()
	hub := live.NewHub()
	st, err := cfg.openStore(ctx, logger, workers, hub)
	if err != nil {
		return err
	}
	defer st.Close()

	tenant, err := st.EnsureTenant(ctx, defaultTenant)
	if err != nil {
		return err
	}
	if cfg.WebhookSecret != "" {
		if err := parley.EnsureWebhookSecret(ctx, st, tenant.ID, cfg.WebhookSecret); err != nil {
			return fmt.Errorf("webhook secret: %w", err)
		}
	}
	if cfg.BootstrapToken != "" {
		if _, err := st.CreateToken(ctx, tenant.ID, "bootstrap", true, parley.HashToken(cfg.BootstrapToken)); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
	}
	firstToken, err := firstRunToken(ctx, st, tenant.ID, cfg.BootstrapToken)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	egressOpts, err := cfg.egressOptions()
	if err != nil {
		return err
	}
	egressClient := egress.NewClient(egressOpts)
	endpoints, err := cfg.endpointPolicy(tenant.ID)
	if err != nil {
		return err
	}
	keys, err := cfg.sealBox()
	if err != nil {
		return err
	}
	providers := &reply.Providers{DefaultModel: cfg.LLMModel, Endpoints: endpoints, Keys: keys, Egress: egressClient}
	// The operator's own endpoint is trusted: it is often on a private
	// network (vLLM, Ollama), so it does not go through the egress guard.
	// Its client still keeps a connection for each worker that talks to
	// it at once (http.DefaultClient keeps two, and would dial and
	// handshake again for nearly every completion).
	operatorClient := egress.NewClient(egress.Options{AllowPrivate: true, Redirects: 5})
	if cfg.LLMBaseURL != "" {
		providers.Default = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel,
			HTTPClient: operatorClient})
	}
	// Memories come from the operator's model when there is one (never a
	// tenant's endpoint: extraction reads every conversation), else from
	// the built-in extractor.
	var extractor memory.Extractor = memory.Builtin{}
	if providers.Default != nil {
		extractor = memory.Model{Provider: providers.Default, Model: cfg.LLMModel}
	}
	// Memories' vectors: from the operator's embedding model, else from
	// the hashing that needs none.
	var embedder parley.Embedder = rank.Hashing{}
	if cfg.EmbeddingModel != "" {
		if cfg.LLMBaseURL == "" {
			return fmt.Errorf("PARLEY_EMBEDDING_MODEL needs PARLEY_LLM_BASE_URL")
		}
		embedder = llm.NewEmbeddings(llm.OpenAIConfig{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.EmbeddingModel,
			HTTPClient: operatorClient})
	}
	blobs, err := cfg.blobs(ctx)
	if err != nil {
		return err
	}
	fetchOpts := egressOpts
	fetchOpts.Redirects = 5
	library := &content.Library{Store: st, Blobs: blobs, Client: egress.NewClient(fetchOpts), Logger: logger,
		MaxBytes: cfg.ContentMaxBytes}
	if cfg.VisionModel != "" && providers.Default != nil {
		library.Caption = content.ModelCaptioner{Provider: providers.Default, Model: cfg.VisionModel}
	}
	river.AddWorker(workers, &memory.Worker{Store: st, Extractor: extractor, Embedder: embedder})
	river.AddWorker(workers, &content.MediaWorker{Store: st, Library: library})
	river.AddWorker(workers, &retention.Worker{Store: st, Blobs: library})
	river.AddWorker(workers, &reply.Worker{Store: st, Providers: providers, Metrics: reply.NewMetrics(reg), Retrieval: memory.Recall{Store: st, Embedder: embedder}, Library: library,
		Logger: logger, JobTimeout: cfg.ReplyTimeout, Cache: reply.NewCache(int64(cfg.ReplyCacheMB)<<20, 0),
		OnDelta: func(tenantID, conversationID string, uptoSeq int64, text string) {
			if err := st.PublishDelta(ctx, parley.Delta{ConversationID: conversationID, UptoSeq: uptoSeq, Text: text}); err != nil {
				logger.Warn("publish delta", "err", err)
			}
		}})
	river.AddWorker(workers, &webhook.Worker{Store: st, Metrics: webhook.NewMetrics(reg), Logger: logger,
		Schedule: cfg.WebhookSchedule,
		Client:   egress.NewClient(withTimeout(egressOpts, webhook.Timeout))})
	if err := st.StartWorkers(ctx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	api := httpapi.New(httpapi.Config{Store: st, Logger: logger, Version: version, DefaultTenantID: tenant.ID,
		Registry: reg, Hub: hub, Endpoints: endpoints, Keys: keys, Limits: cfg.rateLimits(), Library: library, Embedder: embedder})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: nil, MaxHeaderBytes: 64 << 10}
	srv.RegisterOnShutdown(api.Drain)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	store := "sqlite"
	if cfg.DatabaseURL != "" {
		store = "postgres"
	}
	model := "builtin offline responder"
	if cfg.LLMBaseURL != "" {
		model = cfg.LLMBaseURL
	}
	logger.Info("parley listening", "addr", ln.Addr().String(), "store", store, "model", model, "version", version)
	if firstToken != "" {
		// Once, on stderr beside the logs: nowhere else holds the secret.
		fmt.Fprintf(stderr, "\nFirst start: an admin token was made for you (it is not shown again):\n\n    %s\n\n"+
			"API: http://%s/api (docs at /docs). Make more with: parley token create --admin\n\n", firstToken, ln.Addr())
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func withTimeout(o egress.Options, d time.Duration) egress.Options {
	o.Timeout = d
	return o
}

// firstRunToken makes an admin token of the default tenant when it has
// none and none was given (PARLEY_BOOTSTRAP_TOKEN): a new server is usable
// at once, and says how. It returns the secret, "" when nothing was made.
func firstRunToken(ctx context.Context, st parley.Accounts, tenantID, bootstrap string) (string, error) {
	if bootstrap != "" {
		return "", nil
	}
	tokens, err := st.ListTokens(ctx, tenantID)
	if err != nil {
		return "", fmt.Errorf("first-run token: %w", err)
	}
	if len(tokens) > 0 {
		return "", nil
	}
	secret, hash := parley.NewToken()
	if _, err := st.CreateToken(ctx, tenantID, "first-run", true, hash); err != nil {
		return "", fmt.Errorf("first-run token: %w", err)
	}
	return secret, nil
}

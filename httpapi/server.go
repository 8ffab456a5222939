// Package httpapi serves Parley's HTTP API: the V3 conversation API of the
// seeds, bots, users and tokens, health checks, metrics and the OpenAPI
// document. Handlers are declared with huma, which validates requests against
// the same schema it publishes and answers RFC 9457 problem JSON.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/console"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/seal"
)

// Store is what the API needs from a store. Both store/sqlite and
// store/postgres provide it.
type Store interface {
	parley.Accounts
	parley.Conversations
	parley.Replies
	parley.Memories
	parley.Library
	parley.Audit
	parley.Retentions
	parley.Events
	parley.Deliveries
	parley.Health
}

// Config configures the API.
type Config struct {
	Store   Store
	Logger  *slog.Logger
	Version string
	// DefaultTenantID is the operators' tenant: its admin tokens may create
	// other tenants.
	DefaultTenantID string
	// Registry receives the API's metrics; nil means a fresh registry.
	Registry *prometheus.Registry
	// Hub carries news of conversations to event streams and waiting
	// callers; the store must be given the same hub. Nil: a hub of its own
	// (streams then hear only of events made through this server).
	Hub *live.Hub
	// Endpoints says which tenants' bots may name their own model endpoint.
	Endpoints parley.EndpointPolicy
	// Keys seals bots' own model keys; nil: bots cannot be given one.
	Keys *seal.Box
	// Limits bound each token's and tenant's requests; zero: none.
	Limits Limits
	// Library is the bots' content library; nil: its calls answer 503.
	Library *content.Library
	// Embedder makes memories' vectors and recall's queries'; nil: none.
	Embedder parley.Embedder
}

// Server is the HTTP API.
type Server struct {
	store         Store
	logger        *slog.Logger
	defaultTenant string
	metrics       *metrics
	auth          *authCache
	hub           *live.Hub
	limiter       *limiter
	endpoints     parley.EndpointPolicy
	keys          *seal.Box
	library       *content.Library
	embedder      parley.Embedder
	handler       http.Handler
	api           huma.API

	draining  chan struct{} // closed by Drain
	drainOnce sync.Once
}

// Drain ends the long-lived requests, for a graceful shutdown that would
// otherwise wait for them: event streams close (clients resume elsewhere
// with Last-Event-ID) and callers waiting for a reply get it as pending.
// Register it with http.Server.RegisterOnShutdown.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// New builds the API.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Endpoints.OperatorTenant == "" {
		cfg.Endpoints.OperatorTenant = cfg.DefaultTenantID
	}
	s := &Server{store: cfg.Store, logger: cfg.Logger, defaultTenant: cfg.DefaultTenantID,
		metrics: newMetrics(cfg.Registry), auth: newAuthCache(), hub: cfg.Hub,
		endpoints: cfg.Endpoints, keys: cfg.Keys, library: cfg.Library, embedder: cfg.Embedder, limiter: newLimiter(cfg.Limits, cfg.Registry),
		draining: make(chan struct{})}
	if s.hub == nil {
		s.hub = live.NewHub()
	}

	mux := http.NewServeMux()
	hc := huma.DefaultConfig("Parley", cfg.Version)
	hc.Info.Description = "Self-hosted conversation server for AI chat bots."
	// No "$schema" link in every response body: the seeds' clients read
	// bodies as plain objects.
	hc.CreateHooks = nil
	hc.Transformers = append(hc.Transformers, bodyLocation)
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "an API token (prly_...)"},
	}
	hc.Security = []map[string][]string{{"bearer": {}}}
	hc.DocsPath = "" // huma's page loads its code from a CDN: docs.go renders one that works offline
	s.api = humago.New(mux, hc)
	s.register()

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /docs", &docs{api: s.api.OpenAPI})
	// The web console: its page at "/", its files under /console/.
	mux.Handle("GET /{$}", console.Handler())
	mux.Handle("GET /console/", console.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/conversations/{id}/events", s.events)
	mux.HandleFunc("GET /api/content/{id}/file", s.serveContent(false))
	mux.HandleFunc("GET /api/content/{id}/thumbnail", s.serveContent(true))
	mux.HandleFunc("GET /api/conversations/{id}/messages/{seq}/media/{index}", s.serveMessageMedia)

	s.handler = s.observe(s.authenticate(s.limitRequests(validQuery(readChunked(jsonByDefault(mux))))))
	return s
}

// bodyLocation names the body in huma's own problems about it (a missing
// body), which name no field: every problem says where the fault is.
// A body decoded without huma's validation (V1's, for speed) reports a
// type error as the decoder words it; the field it names becomes the
// location.
func bodyLocation(_ huma.Context, _ string, v any) (any, error) {
	e, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	if len(e.Errors) == 0 && e.Status == http.StatusBadRequest && strings.Contains(e.Detail, "body") {
		e.Errors = []*huma.ErrorDetail{{Message: e.Detail, Location: "body"}}
	}
	for _, d := range e.Errors {
		if d == nil || d.Location != "body" {
			continue
		}
		if _, rest, ok := strings.Cut(d.Message, "into Go struct field "); ok {
			if field, _, ok := strings.Cut(rest, " of type"); ok {
				if _, path, ok := strings.Cut(field, "."); ok && path != "" {
					d.Location = "body." + path
				}
			}
		}
	}
	return v, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// OpenAPI returns the API's OpenAPI 3.1 description.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// readyTimeout bounds a readiness check: a database that does not answer
// is as unready as one that refuses.
const readyTimeout = 2 * time.Second

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		w.Header().Set("Retry-After", retryAfterOutage)
		s.logger.Error("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// register declares every operation.
func (s *Server) register() {
	s.registerConversations()
	s.registerBots()
	s.registerUsers()
	s.registerTokens()
	s.registerWebhooks()
	s.registerV1()
	s.registerMemories()
	s.registerContent()
}

// op fills what every operation shares.
func op(id, method, path, summary string, tags ...string) huma.Operation {
	return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags,
		MaxBodyBytes: parley.MaxBodyBytes}
}

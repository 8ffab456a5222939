package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/live"
	"github.com/parley-chat/parley/reply"
	"github.com/parley-chat/parley/seal"
	"github.com/parley-chat/parley/store/postgres"
	"github.com/parley-chat/parley/store/sqlite"
	"github.com/parley-chat/parley/webhook"
)

// config is what every command reads. Each field has a flag and a PARLEY_*
// environment variable; the flag wins.
type config struct {
	Addr                 string
	DataDir              string
	DatabaseURL          string
	DatabaseDirectURL    string
	BootstrapToken       string
	AllowPrivateNetworks bool
	LogLevel             string
	scheduleErr          error
	LLMBaseURL           string
	LLMAPIKey            string
	LLMModel             string
	ReplyTimeout         time.Duration
	ReplyCacheMB         int
	Workers              int
	DeliveryWorkers      int
	MemoryWorkers        int
	MediaWorkers         int
	VisionModel          string
	EmbeddingModel       string
	WebhookSecret        string
	WebhookSchedule      []time.Duration
	BotEndpoints         string
	SecretKey            string
	Limits               httpapi.Limits
	BlobDir              string
	S3                   blob.S3Options
	ContentMaxBytes      int64
	EgressPermit         string
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

// storeFlags registers the flags that say where the data is.
func (c *config) storeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", envOr("PARLEY_DATA_DIR", "./parley-data"),
		"directory of the embedded SQLite database and local files (PARLEY_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("PARLEY_DATABASE_URL"),
		"postgres://... to use PostgreSQL instead of SQLite (PARLEY_DATABASE_URL)")
	fs.StringVar(&c.DatabaseDirectURL, "database-direct-url", os.Getenv("PARLEY_DATABASE_DIRECT_URL"),
		"when the database URL is PgBouncer in transaction mode: PostgreSQL's own URL, for migrations and LISTEN (PARLEY_DATABASE_DIRECT_URL)")
	fs.StringVar(&c.LogLevel, "log-level", envOr("PARLEY_LOG_LEVEL", "info"), "debug, info, warn or error (PARLEY_LOG_LEVEL)")
}

func (c *config) serveFlags(fs *flag.FlagSet) {
	c.storeFlags(fs)
	fs.StringVar(&c.Addr, "addr", envOr("PARLEY_ADDR", "127.0.0.1:8080"), "address to listen on (PARLEY_ADDR)")
	fs.StringVar(&c.BootstrapToken, "bootstrap-token", os.Getenv("PARLEY_BOOTSTRAP_TOKEN"),
		"ensure this admin token of the default tenant at start-up (PARLEY_BOOTSTRAP_TOKEN)")
	fs.BoolVar(&c.AllowPrivateNetworks, "allow-private-networks", envBool("PARLEY_ALLOW_PRIVATE_NETWORKS"),
		"let outbound requests reach loopback and private addresses (PARLEY_ALLOW_PRIVATE_NETWORKS)")
	fs.StringVar(&c.LLMBaseURL, "llm-base-url", os.Getenv("PARLEY_LLM_BASE_URL"),
		"OpenAI-compatible endpoint, e.g. http://localhost:11434/v1; empty: the built-in offline responder (PARLEY_LLM_BASE_URL)")
	fs.StringVar(&c.LLMAPIKey, "llm-api-key", os.Getenv("PARLEY_LLM_API_KEY"), "API key of the endpoint (PARLEY_LLM_API_KEY)")
	fs.StringVar(&c.BotEndpoints, "bot-endpoints", envOr("PARLEY_BOT_ENDPOINTS", parley.EndpointsOperator),
		"whose bots may set their own model.base_url: operator (the default tenant's), all (every tenant's) or none (PARLEY_BOT_ENDPOINTS)")
	fs.StringVar(&c.SecretKey, "secret-key", os.Getenv("PARLEY_SECRET_KEY"),
		"base64 of 32 bytes that seals secrets kept for tenants (bots' model keys); default with SQLite: DATA_DIR/secret.key, made on first start (PARLEY_SECRET_KEY)")
	fs.Float64Var(&c.Limits.TokenRate, "rate-token", envFloat("PARLEY_RATE_TOKEN", 1000),
		"requests per second one token may make, bursts of twice that; 0: no limit (PARLEY_RATE_TOKEN)")
	fs.Float64Var(&c.Limits.TenantRate, "rate-tenant", envFloat("PARLEY_RATE_TENANT", 5000),
		"requests per second all of a tenant's tokens may make, bursts of twice that; 0: no limit (PARLEY_RATE_TENANT)")
	fs.IntVar(&c.Limits.TokenStreams, "streams-token", envInt("PARLEY_STREAMS_TOKEN", 1000),
		"event streams and waits for a reply one token may hold open at once; 0: no limit (PARLEY_STREAMS_TOKEN)")
	fs.IntVar(&c.Limits.TenantStreams, "streams-tenant", envInt("PARLEY_STREAMS_TENANT", 10000),
		"event streams and waits all of a tenant's tokens may hold open at once; 0: no limit (PARLEY_STREAMS_TENANT)")
	fs.StringVar(&c.LLMModel, "llm-model", os.Getenv("PARLEY_LLM_MODEL"), "default model name (PARLEY_LLM_MODEL)")
	fs.DurationVar(&c.ReplyTimeout, "reply-timeout", envDuration("PARLEY_REPLY_TIMEOUT", 2*time.Minute),
		"longest attempt at one reply; a crashed attempt is retried after it (PARLEY_REPLY_TIMEOUT)")
	fs.IntVar(&c.ReplyCacheMB, "reply-cache-mb", envInt("PARLEY_REPLY_CACHE_MB", reply.DefaultCacheBytes>>20),
		"memory for recently answered conversations' messages, so that a reply reads only what is new (PARLEY_REPLY_CACHE_MB)")
	fs.IntVar(&c.Workers, "workers", envInt("PARLEY_WORKERS", 100), "replies (and other background jobs) made at once (PARLEY_WORKERS)")
	fs.IntVar(&c.DeliveryWorkers, "delivery-workers", envInt("PARLEY_DELIVERY_WORKERS", 100),
		"webhook deliveries made at once, in a queue of their own (PARLEY_DELIVERY_WORKERS)")
	fs.IntVar(&c.MemoryWorkers, "memory-workers", envInt("PARLEY_MEMORY_WORKERS", 4),
		"memory extraction jobs run at once, in a queue of their own (PARLEY_MEMORY_WORKERS)")
	fs.StringVar(&c.VisionModel, "vision-model", os.Getenv("PARLEY_VISION_MODEL"),
		"a model of the operator's endpoint that sees images: library items are captioned by it (PARLEY_VISION_MODEL; needs PARLEY_LLM_BASE_URL)")
	fs.StringVar(&c.EmbeddingModel, "embedding-model", os.Getenv("PARLEY_EMBEDDING_MODEL"),
		"a model of the operator's endpoint that makes embeddings: memories' vectors and recall's (PARLEY_EMBEDDING_MODEL; needs PARLEY_LLM_BASE_URL); empty: Parley's own hashing vectors, no model")
	fs.IntVar(&c.MediaWorkers, "media-workers", envInt("PARLEY_MEDIA_WORKERS", 16),
		"fetches of media users send run at once, in a queue of their own (PARLEY_MEDIA_WORKERS)")
	fs.StringVar(&c.BlobDir, "blob-dir", os.Getenv("PARLEY_BLOB_DIR"),
		"where the content library's files are kept (PARLEY_BLOB_DIR; default DATA_DIR/blobs; unused with an S3 endpoint)")
	fs.StringVar(&c.S3.Endpoint, "s3-endpoint", os.Getenv("PARLEY_S3_ENDPOINT"),
		"an S3-compatible service for the content library's files, e.g. https://s3.eu-west-1.amazonaws.com (PARLEY_S3_ENDPOINT); replicas sharing PostgreSQL need one")
	fs.StringVar(&c.S3.Bucket, "s3-bucket", os.Getenv("PARLEY_S3_BUCKET"), "its bucket, which must exist (PARLEY_S3_BUCKET)")
	fs.StringVar(&c.S3.Region, "s3-region", envOr("PARLEY_S3_REGION", "us-east-1"), "its region (PARLEY_S3_REGION)")
	fs.StringVar(&c.S3.AccessKey, "s3-access-key", os.Getenv("PARLEY_S3_ACCESS_KEY"), "its access key (PARLEY_S3_ACCESS_KEY)")
	fs.StringVar(&c.S3.SecretKey, "s3-secret-key", os.Getenv("PARLEY_S3_SECRET_KEY"), "its secret key (PARLEY_S3_SECRET_KEY)")
	fs.StringVar(&c.S3.Prefix, "s3-prefix", os.Getenv("PARLEY_S3_PREFIX"), "a prefix for every object's key (PARLEY_S3_PREFIX)")
	fs.Int64Var(&c.ContentMaxBytes, "content-max-bytes", int64(envInt("PARLEY_CONTENT_MAX_BYTES", content.DefaultMaxBytes)),
		"the largest file the content library takes (PARLEY_CONTENT_MAX_BYTES)")
	fs.StringVar(&c.EgressPermit, "egress-permit", os.Getenv("PARLEY_EGRESS_PERMIT"),
		"private ranges outbound requests may reach after all, comma separated CIDRs, e.g. 10.20.0.0/16 for an on-premises media host (PARLEY_EGRESS_PERMIT)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", os.Getenv("PARLEY_WEBHOOK_SECRET"),
		"whsec_... signing secret of the default tenant's webhooks (PARLEY_WEBHOOK_SECRET)")
	fs.Func("webhook-retry-schedule", "waits between webhook attempts, comma separated (PARLEY_WEBHOOK_RETRY_SCHEDULE; default 5s,5m,30m,2h,5h,10h,14h,20h,24h)",
		func(v string) error { return c.parseSchedule(v) })
	if v := os.Getenv("PARLEY_WEBHOOK_RETRY_SCHEDULE"); v != "" {
		if err := c.parseSchedule(v); err != nil {
			c.scheduleErr = fmt.Errorf("PARLEY_WEBHOOK_RETRY_SCHEDULE: %w", err)
		}
	}
}

// egressOptions are the outbound guard's settings.
func (c *config) egressOptions() (egress.Options, error) {
	o := egress.Options{AllowPrivate: c.AllowPrivateNetworks}
	for _, p := range strings.Split(c.EgressPermit, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return o, fmt.Errorf("PARLEY_EGRESS_PERMIT: %q is not a CIDR range: %w", p, err)
		}
		o.Permit = append(o.Permit, prefix.Masked())
	}
	return o, nil
}

// blobs opens the content library's blob store: S3 when an endpoint is
// set, else the directory.
func (c *config) blobs(ctx context.Context) (blob.Store, error) {
	if c.S3.Endpoint != "" {
		return blob.NewS3(ctx, c.S3)
	}
	dir := c.BlobDir
	if dir == "" {
		dir = filepath.Join(c.DataDir, "blobs")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return blob.Dir{Root: dir}, nil
}

// rateLimits are the configured limits, with bursts of twice the rates.
func (c *config) rateLimits() httpapi.Limits {
	l := c.Limits
	l.TokenBurst, l.TenantBurst = int(2*l.TokenRate), int(2*l.TenantRate)
	return l
}

// endpointPolicy is who may point bots at their own model endpoints.
func (c *config) endpointPolicy(defaultTenantID string) (parley.EndpointPolicy, error) {
	switch c.BotEndpoints {
	case parley.EndpointsOperator, parley.EndpointsAll, parley.EndpointsNone:
		return parley.EndpointPolicy{Mode: c.BotEndpoints, OperatorTenant: defaultTenantID}, nil
	}
	return parley.EndpointPolicy{}, fmt.Errorf("PARLEY_BOT_ENDPOINTS is %q: want operator, all or none", c.BotEndpoints)
}

// sealBox is the box that seals tenants' secrets: from PARLEY_SECRET_KEY,
// else (SQLite) from a key file in the data directory, made on first use.
// Replicas of a PostgreSQL deployment must share one key, so there they
// need PARLEY_SECRET_KEY, and without it no bot can be given a key (nil).
func (c *config) sealBox() (*seal.Box, error) {
	var key []byte
	var err error
	switch {
	case c.SecretKey != "":
		if key, err = seal.ParseKey(c.SecretKey); err != nil {
			return nil, fmt.Errorf("PARLEY_SECRET_KEY: %w", err)
		}
	case c.DatabaseURL == "":
		if key, err = seal.LoadOrCreateKeyFile(filepath.Join(c.DataDir, "secret.key")); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	return seal.New(key)
}

// Every worker bounds its attempts with a Timeout of its own (a reply:
// PARLEY_REPLY_TIMEOUT; a delivery, an extraction, a message's media, the
// retention run theirs). jobTimeout is the queue's bound for a kind
// without one (there is none), and River's floor for rescueAfter: when its
// rescuer first looks at a job still marked running. It retries one only
// once that kind's own timeout has passed, so a job that a dead replica
// was running is tried again after its kind's timeout (at least
// rescueAfter) plus up to the rescuer's 30 s: a delivery within a minute,
// a reply within PARLEY_REPLY_TIMEOUT and 30 s.
func (c *config) jobTimeout() time.Duration { return webhook.Timeout + 10*time.Second }

func (c *config) rescueAfter() time.Duration { return c.jobTimeout() + 5*time.Second }

func (c *config) parseSchedule(v string) error {
	c.WebhookSchedule = nil
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration", part)
		}
		c.WebhookSchedule = append(c.WebhookSchedule, d)
	}
	return nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return f
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func (c *config) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// store is what the commands need: every area of the store.
type store = parley.Store

// openStore opens the configured store. With workers, its job queue runs
// them once StartWorkers is called; without, it only enqueues.
func (c *config) openStore(ctx context.Context, logger *slog.Logger, workers *river.Workers, hub *live.Hub) (store, error) {
	if c.DatabaseURL != "" {
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			return nil, fmt.Errorf("PARLEY_DATABASE_URL must be a postgres:// URL")
		}
		return postgres.Open(ctx, c.DatabaseURL, postgres.Options{Logger: logger, Hub: hub, DirectURL: c.DatabaseDirectURL,
			Queue: postgres.QueueOptions{Workers: workers, Concurrency: c.Workers, DeliveryConcurrency: c.DeliveryWorkers,
				MemoryConcurrency: c.MemoryWorkers, MediaConcurrency: c.MediaWorkers, RetentionEvery: time.Hour, JobTimeout: c.jobTimeout(), RescueAfter: c.rescueAfter()}})
	}
	return sqlite.Open(ctx, filepath.Join(c.DataDir, "parley.db"), sqlite.Options{Logger: logger, Hub: hub,
		Queue: sqlite.QueueOptions{Workers: workers, Concurrency: c.Workers, DeliveryConcurrency: c.DeliveryWorkers,
			MemoryConcurrency: c.MemoryWorkers, MediaConcurrency: c.MediaWorkers, RetentionEvery: time.Hour, JobTimeout: c.jobTimeout(), RescueAfter: c.rescueAfter()}})
}

// defaultTenant is the tenant of the bootstrap token and of CLI commands that
// name none.
const defaultTenant = "default"

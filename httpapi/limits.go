package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/parley-chat/parley"
)

// Limits bound what one token and one tenant may do, so that abuse (or a
// runaway client) is refused cheaply instead of slowing every tenant: a
// request rate (token bucket) and a number of long-lived requests held at
// once (event streams, waits for a reply). Zero means no limit.
type Limits struct {
	TokenRate     float64 // requests per second of one token
	TokenBurst    int     // requests one token may make at once above its rate
	TenantRate    float64 // requests per second of all of a tenant's tokens
	TenantBurst   int
	TokenStreams  int // event streams and waits one token holds open at once
	TenantStreams int // ... all of a tenant's tokens
}

// maxTracked bounds the limiters kept; past it they start again (a token
// then gets a fresh bucket: generous, never wrong).
const maxTracked = 100_000

// limiter applies Limits. Refusals answer 429 with Retry-After and count
// in parley_rate_limited_total{scope,kind}.
type limiter struct {
	limits  Limits
	refused *prometheus.CounterVec

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // "token:<id>" and "tenant:<id>"
	held    map[string]int
}

func newLimiter(l Limits, reg *prometheus.Registry) *limiter {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_rate_limited_total", Help: "Requests refused with 429, by scope (token, tenant) and kind (rate, streams).",
	}, []string{"scope", "kind"})
	reg.MustRegister(refused)
	return &limiter{limits: l, refused: refused, buckets: map[string]*rate.Limiter{}, held: map[string]int{}}
}

func (l *limiter) bucket(key string, r float64, burst int) *rate.Limiter {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxTracked {
			clear(l.buckets)
		}
		b = rate.NewLimiter(rate.Limit(r), max(burst, 1))
		l.buckets[key] = b
	}
	return b
}

// allow takes one request of p's token and tenant; when refused it returns
// how long to wait and which scope refused.
func (l *limiter) allow(p *parley.Principal) (time.Duration, string) {
	if l.limits.TokenRate <= 0 && l.limits.TenantRate <= 0 {
		return 0, ""
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var tok, ten *rate.Reservation
	if l.limits.TokenRate > 0 {
		tok = l.bucket("token:"+p.TokenID, l.limits.TokenRate, l.limits.TokenBurst).ReserveN(now, 1)
		if d := tok.DelayFrom(now); d > 0 {
			tok.CancelAt(now)
			return d, "token"
		}
	}
	if l.limits.TenantRate > 0 {
		ten = l.bucket("tenant:"+p.TenantID, l.limits.TenantRate, l.limits.TenantBurst).ReserveN(now, 1)
		if d := ten.DelayFrom(now); d > 0 {
			ten.CancelAt(now)
			if tok != nil {
				tok.CancelAt(now) // a refused request costs the token nothing
			}
			return d, "tenant"
		}
	}
	return 0, ""
}

// hold takes a long-lived slot of p's token and tenant; release gives it
// back. ok is false (and nothing is held) when either is at its limit.
func (l *limiter) hold(p *parley.Principal) (release func(), scope string) {
	if l.limits.TokenStreams <= 0 && l.limits.TenantStreams <= 0 {
		return func() {}, ""
	}
	tk, tn := "token:"+p.TokenID, "tenant:"+p.TenantID
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.limits.TokenStreams > 0 && l.held[tk] >= l.limits.TokenStreams:
		return nil, "token"
	case l.limits.TenantStreams > 0 && l.held[tn] >= l.limits.TenantStreams:
		return nil, "tenant"
	}
	l.held[tk]++
	l.held[tn]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, k := range []string{tk, tn} {
				if l.held[k]--; l.held[k] <= 0 {
					delete(l.held, k)
				}
			}
		})
	}, ""
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}

// limitRequests refuses a request past its token's or tenant's rate. It
// runs after authentication: unauthenticated requests never reach it.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := r.Context().Value(principalKey).(*parley.Principal)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if d, scope := s.limiter.allow(p); scope != "" {
			s.limiter.refused.WithLabelValues(scope, "rate").Inc()
			w.Header().Set("Retry-After", retryAfter(d))
			writeProblem(w, http.StatusTooManyRequests, "too many requests for this "+scope+"; retry after the Retry-After header's seconds", "header.Authorization")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// holdStream takes a long-lived slot for the caller, or returns the 429
// problem that says why not.
func (s *Server) holdStream(p *parley.Principal) (func(), error) {
	release, scope := s.limiter.hold(p)
	if scope == "" {
		return release, nil
	}
	s.limiter.refused.WithLabelValues(scope, "streams").Inc()
	msg := "too many open event streams and waits for this " + scope + "; close one first"
	return nil, huma.ErrorWithHeaders(
		huma.NewError(http.StatusTooManyRequests, msg, &huma.ErrorDetail{Message: msg, Location: "header.Authorization"}),
		http.Header{"Retry-After": {"1"}})
}

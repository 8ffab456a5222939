package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	tokenHashKey        // the hash of the request's token, to check it again
)

// principal returns the authenticated caller; the auth middleware guarantees
// one for every /api/ route.
func principal(ctx context.Context) *parley.Principal {
	p, _ := ctx.Value(principalKey).(*parley.Principal)
	if p == nil {
		return &parley.Principal{} // an empty tenant id matches no row
	}
	return p
}

// authenticate requires a bearer token on the API routes and puts its
// principal in the request context. Health, metrics and docs stay public.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/v2/") {
			next.ServeHTTP(w, r)
			return
		}
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			writeProblem(w, http.StatusUnauthorized, "missing bearer token", "header.Authorization")
			return
		}
		hash := parley.HashToken(secret)
		withToken := func(p *parley.Principal) *http.Request {
			return r.WithContext(context.WithValue(context.WithValue(r.Context(), principalKey, p), tokenHashKey, hash))
		}
		if p, ok := s.auth.get(hash); ok {
			next.ServeHTTP(w, withToken(p))
			return
		}
		p, err := s.store.Authenticate(r.Context(), hash)
		if err != nil {
			if parley.ErrorCode(err) == parley.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "invalid token", "header.Authorization")
				return
			}
			if s.unavailable(err) {
				w.Header().Set("Retry-After", retryAfterOutage)
				writeProblem(w, http.StatusServiceUnavailable, unavailableDetail, "")
				return
			}
			s.logger.ErrorContext(r.Context(), "authenticate", "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal error", "")
			return
		}
		s.auth.put(hash, p)
		next.ServeHTTP(w, withToken(p))
	})
}

// bearer returns the token of an Authorization header. The scheme is
// case-insensitive (RFC 9110 section 11.1).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// revalidateEvery is how often a long-lived request (an event stream, a
// wait for a reply) checks that its token still stands: through the auth
// cache, so at once on the replica that revoked it, and within the cache's
// lifetime on the others, at one store read per token per lifetime.
const revalidateEvery = time.Second

// errRevoked ends the long-lived requests of a revoked token.
var errRevoked = parley.Errorf(parley.EUNAUTHORIZED, "the token was revoked")

// errDraining ends the long-lived requests of a server shutting down.
var errDraining = errors.New("the server is shutting down")

// untilRevoked returns a context that also ends when the request's token is
// revoked (cause errRevoked) or the server drains (cause errDraining).
func (s *Server) untilRevoked(ctx context.Context) (context.Context, context.CancelFunc) {
	hash, _ := ctx.Value(tokenHashKey).([]byte)
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		tick := time.NewTicker(revalidateEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.draining:
				cancel(errDraining)
				return
			case <-tick.C:
				if !s.tokenStands(ctx, hash) {
					cancel(errRevoked)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// tokenStands tells whether a token still authenticates. A store that
// cannot answer is not a revocation: the request goes on.
func (s *Server) tokenStands(ctx context.Context, hash []byte) bool {
	if _, ok := s.auth.get(hash); ok {
		return true
	}
	p, err := s.store.Authenticate(ctx, hash)
	if err != nil {
		return parley.ErrorCode(err) != parley.EUNAUTHORIZED
	}
	s.auth.put(hash, p)
	return true
}

// jsonByDefault reads bodies as JSON unless they say they are CBOR. fetch()
// with a string body and no Content-Type (as in the seeds' client code) sends
// text/plain;charset=UTF-8, curl -d sends a form type; Parley has no form
// endpoints, and both clients mean JSON.
func jsonByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.ContentLength != 0 {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt == "" || mt == "text/plain" || mt == "application/x-www-form-urlencoded" {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// validQuery refuses a query string that does not decode (a bad percent
// escape such as ?cursor=%%%): the standard library drops such a parameter
// silently, and the request would go on as if it had not been sent.
func validQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
			key, value, _ := strings.Cut(part, "=")
			k, kerr := url.QueryUnescape(key)
			_, verr := url.QueryUnescape(value)
			if kerr != nil || verr != nil {
				if kerr != nil {
					k = key
				}
				writeProblem(w, http.StatusUnprocessableEntity, "the query parameter is not valid percent-encoding", "query."+k)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxAnyBody is the largest body any operation takes (V1's whole histories).
const maxAnyBody = 4 << 20

// readChunked reads a body of unknown length (chunked) before the handler
// does, so that a malformed one (a bad chunk size, a cut connection) is the
// client's error, 400, and not an error reading the body, which huma
// answers 500. A body past every operation's limit is left for the
// operation to refuse (413); a read that times out, for it to answer 408.
func readChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength >= 0 {
			next.ServeHTTP(w, r)
			return
		}
		var buf bytes.Buffer
		_, err := buf.ReadFrom(io.LimitReader(r.Body, maxAnyBody+1))
		var ne net.Error
		switch {
		case err == nil && buf.Len() > maxAnyBody:
			r.Body = io.NopCloser(io.MultiReader(&buf, r.Body))
		case err == nil:
			r.Body, r.ContentLength = io.NopCloser(&buf), int64(buf.Len())
		case errors.As(err, &ne) && ne.Timeout():
			r.Body = io.NopCloser(io.MultiReader(&buf, errReader{err}))
		default:
			writeProblem(w, http.StatusBadRequest, "malformed request body: "+err.Error(), "body")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func writeProblem(w http.ResponseWriter, status int, detail, location string) {
	p := huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail}
	if location != "" {
		p.Errors = []*huma.ErrorDetail{{Message: detail, Location: location}}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 30},
		}, []string{"method", "route"}),
	}
	m.streams = prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_event_streams", Help: "Open event streams."})
	reg.MustRegister(m.requests, m.duration, m.streams)
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Flush lets streaming responses through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe gives every request an id (the caller's X-Request-Id or a new one),
// logs it as one JSON line and counts it in the metrics by route pattern, so
// ids in paths do not explode the label space.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = parley.NewID()
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.logger.ErrorContext(r.Context(), "panic", "request_id", id, "panic", v)
				if rec.status == 0 {
					writeProblem(rec, http.StatusInternalServerError, "internal error", "")
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(rec.status)).Inc()
			s.metrics.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			s.logger.LogAttrs(r.Context(), level, "request", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Int("bytes", rec.bytes), slog.Duration("duration", elapsed))
		}()
		next.ServeHTTP(rec, r)
	})
}

// problem turns a store or domain error into the API's problem JSON. The
// status comes from the error's code, never from its text.
func (s *Server) problem(ctx context.Context, err error) error {
	var status int
	switch parley.ErrorCode(err) {
	case parley.EINVALID:
		status = http.StatusUnprocessableEntity
	case parley.ENOTFOUND:
		status = http.StatusNotFound
	case parley.ECONFLICT:
		status = http.StatusConflict
	case parley.EUNAUTHORIZED:
		status = http.StatusUnauthorized
	case parley.EFORBIDDEN:
		status = http.StatusForbidden
	case parley.ETOOLARGE:
		status = http.StatusRequestEntityTooLarge
	default:
		if ctx.Err() != nil {
			return huma.NewError(499, "request cancelled")
		}
		if s.unavailable(err) {
			s.logger.WarnContext(ctx, "store unavailable", "err", err)
			return huma.ErrorWithHeaders(huma.NewError(http.StatusServiceUnavailable, unavailableDetail),
				http.Header{"Retry-After": {retryAfterOutage}})
		}
		s.logger.ErrorContext(ctx, "internal error", "err", err)
		return huma.Error500InternalServerError("internal error")
	}
	var pe *parley.Error
	if errors.As(err, &pe) {
		if pe.Field != "" {
			return huma.NewError(status, pe.Message, &huma.ErrorDetail{Message: pe.Message, Location: pe.Field})
		}
		return huma.NewError(status, pe.Message)
	}
	return huma.NewError(status, err.Error())
}

// While the database cannot be reached, requests are answered 503 with
// this advice, not 500: the client is to try again, the request was fine.
const (
	unavailableDetail = "the database cannot be reached; try again shortly"
	retryAfterOutage  = "2"
)

// unavailable says whether err means the store cannot be reached (a store
// that can tell: PostgreSQL's).
func (s *Server) unavailable(err error) bool {
	u, ok := s.store.(interface{ Unavailable(error) bool })
	return ok && u.Unavailable(err)
}

// check answers a domain validation error (parley.Valid*) as a 422 naming
// its field; nil stays nil.
func check(err error) error {
	var pe *parley.Error
	if errors.As(err, &pe) && pe.Code == parley.EINVALID {
		return fieldProblem(pe.Field, "%s", pe.Message)
	}
	return err
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley"
)

type ctxKey int

const principalKey ctxKey = iota

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
		auth := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(secret) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			writeProblem(w, http.StatusUnauthorized, "missing bearer token", "header.Authorization")
			return
		}
		hash := parley.HashToken(secret)
		if p, ok := s.auth.get(hash); ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
			return
		}
		p, err := s.store.Authenticate(r.Context(), hash)
		if err != nil {
			if parley.ErrorCode(err) == parley.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "invalid token", "header.Authorization")
				return
			}
			s.logger.ErrorContext(r.Context(), "authenticate", "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal error", "")
			return
		}
		s.auth.put(hash, p)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
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

// check answers a domain validation error (parley.Valid*) as a 422 naming
// its field; nil stays nil.
func check(err error) error {
	var pe *parley.Error
	if errors.As(err, &pe) && pe.Code == parley.EINVALID {
		return fieldProblem(pe.Field, "%s", pe.Message)
	}
	return err
}

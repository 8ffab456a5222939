package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/egress"
)

// Schedule is the wait before each retry: delivered at once, then after 5
// seconds, 5 minutes, 30 minutes, 2, 5, 10, 14, 20 and 24 hours.
var Schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// Timeout bounds one attempt.
const Timeout = 15 * time.Second

// maxRetryAfterSnoozes bounds how often a receiver may push a delivery back
// with Retry-After before that counts as failed attempts.
const maxRetryAfterSnoozes = 20

// Worker delivers webhooks.
type Worker struct {
	river.WorkerDefaults[parley.WebhookJob]
	Store   parley.Deliveries
	Client  *http.Client // egress-guarded; its timeout is the attempt's
	Metrics *Metrics
	Logger  *slog.Logger
	// Schedule overrides the retry schedule (tests).
	Schedule []time.Duration
}

// NextRetry follows the schedule.
func (w *Worker) NextRetry(job *river.Job[parley.WebhookJob]) time.Time {
	s := Schedule
	if len(w.Schedule) > 0 {
		s = w.Schedule
	}
	return time.Now().Add(s[min(max(job.Attempt-1, 0), len(s)-1)])
}

// Timeout bounds the job a little beyond the HTTP attempt.
func (w *Worker) Timeout(*river.Job[parley.WebhookJob]) time.Duration {
	return Timeout + 10*time.Second
}

// Work makes one attempt.
func (w *Worker) Work(ctx context.Context, job *river.Job[parley.WebhookJob]) error {
	out, err := w.Store.DeliveryForSend(ctx, job.Args.TenantID, job.Args.DeliveryID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	d := out.Delivery
	if d.Status == parley.DeliveryDelivered || d.Status == parley.DeliveryDisabled {
		return nil
	}
	attempt := parley.DeliveryAttempt{Attempt: d.Attempts + 1, CreatedAt: parley.Now()}
	if out.Disabled {
		attempt.Error = "endpoint disabled: it answered 410 Gone to an earlier delivery"
		return w.record(ctx, job, attempt, parley.DeliveryDisabled, false, "disabled")
	}
	start := time.Now()
	res, err := w.send(ctx, out)
	attempt.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	last := job.Attempt >= job.MaxAttempts
	switch {
	case errors.Is(err, egress.ErrForbidden):
		attempt.Error = err.Error() + " (set PARLEY_ALLOW_PRIVATE_NETWORKS to allow)"
		return w.record(ctx, job, attempt, parley.DeliveryFailed, false, "forbidden")
	case err != nil:
		attempt.Error = err.Error()
	default:
		attempt.StatusCode = res.StatusCode
		switch {
		case res.StatusCode >= 200 && res.StatusCode < 300:
			w.Metrics.latency(time.Since(d.CreatedAt))
			return w.record(ctx, job, attempt, parley.DeliveryDelivered, false, "delivered")
		case res.StatusCode == http.StatusGone:
			attempt.Error = "410 Gone: endpoint disabled"
			return w.record(ctx, job, attempt, parley.DeliveryDisabled, true, "disabled")
		case res.StatusCode >= 300 && res.StatusCode < 400:
			attempt.Error = fmt.Sprintf("redirect to %q not followed", res.Header.Get("Location"))
		default:
			attempt.Error = "HTTP " + strconv.Itoa(res.StatusCode)
		}
	}
	if last {
		return w.record(ctx, job, attempt, parley.DeliveryFailed, false, "failed")
	}
	if err := w.record(ctx, job, attempt, parley.DeliveryPending, false, "retried"); err != nil {
		return err
	}
	if res != nil && !last {
		if d, ok := retryAfter(res.Header.Get("Retry-After")); ok && snoozes(job) < maxRetryAfterSnoozes {
			// The receiver said when: come back then, without spending an
			// attempt of the schedule.
			return river.JobSnooze(min(d, 24*time.Hour))
		}
	}
	return errors.New(attempt.Error)
}

func (w *Worker) record(ctx context.Context, job *river.Job[parley.WebhookJob], a parley.DeliveryAttempt, status string, disable bool, outcome string) error {
	w.Metrics.outcome(outcome)
	if disable {
		w.Metrics.disabled()
	}
	if err := w.Store.RecordAttempt(ctx, job.Args.TenantID, job.Args.DeliveryID, a, status, disable); err != nil {
		return fmt.Errorf("webhook: record attempt: %w", err)
	}
	return nil
}

func (w *Worker) send(ctx context.Context, out *parley.Outgoing) (*http.Response, error) {
	d := out.Delivery
	now := time.Now()
	sig, err := Sign(out.Secrets, d.ID, now, d.Payload)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	res, err := w.Client.Do(req)
	if err != nil {
		return nil, err
	}
	// Read a little of the body so the connection can be reused; the
	// answer's content does not matter.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res, nil
}

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func snoozes(job *river.Job[parley.WebhookJob]) int {
	var meta struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &meta) // absent metadata means none
	return meta.Snoozes
}

// Metrics of deliveries.
type Metrics struct {
	outcomes  *prometheus.CounterVec
	latencies prometheus.Histogram
	disables  prometheus.Counter
}

// NewMetrics registers the delivery metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_webhook_deliveries_total",
			Help: "Webhook attempts by outcome (delivered, retried, failed, disabled, forbidden)."}, []string{"outcome"}),
		latencies: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_webhook_delivery_seconds",
			Help:    "From the event to its successful delivery.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300, 3600, 86400}}),
		disables: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_webhook_endpoints_disabled_total",
			Help: "Endpoints disabled after answering 410 Gone."}),
	}
	reg.MustRegister(m.outcomes, m.latencies, m.disables)
	return m
}

func (m *Metrics) outcome(o string) {
	if m != nil {
		m.outcomes.WithLabelValues(o).Inc()
	}
}

func (m *Metrics) latency(d time.Duration) {
	if m != nil {
		m.latencies.Observe(d.Seconds())
	}
}

func (m *Metrics) disabled() {
	if m != nil {
		m.disables.Inc()
	}
}

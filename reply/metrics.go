package reply

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the reply pipeline.
type Metrics struct {
	queueWait, model, total prometheus.Histogram
	outcomes                *prometheus.CounterVec
}

// NewMetrics registers the reply metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	m := &Metrics{
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_reply_queue_wait_seconds",
			Help: "Time a reply job waited between becoming runnable and starting.", Buckets: buckets}),
		model: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_reply_model_seconds",
			Help: "Time the model took to answer.", Buckets: buckets}),
		total: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_reply_seconds",
			Help: "Total reply latency: queue wait, assembly, model and storing.", Buckets: buckets}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_replies_total",
			Help: "Reply jobs by outcome (replied, retried, failed, already_answered, dropped, interrupted)."}, []string{"outcome"}),
	}
	reg.MustRegister(m.queueWait, m.model, m.total, m.outcomes)
	return m
}

func (m *Metrics) observe(queueWait, model, total time.Duration) {
	if m == nil {
		return
	}
	m.queueWait.Observe(queueWait.Seconds())
	m.model.Observe(model.Seconds())
	m.total.Observe(total.Seconds())
}

func (m *Metrics) outcome(o string) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(o).Inc()
}

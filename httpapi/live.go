package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/live"
)

// keepAlive is how often an idle stream sends a comment, so that proxies
// and clients do not time it out.
const keepAlive = 15 * time.Second

// MaxWait bounds how long a caller may wait for a reply.
const MaxWait = 60 * time.Second

// events streams a conversation's events as server-sent events: stored
// events (message.created, reply.failed, conversation.created) with their
// ids, resumable with Last-Event-ID (or ?after=), and message.delta pieces
// of replies while the model streams them (not stored, not resumable).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx, stop := s.untilRevoked(r.Context())
	defer stop()
	p := principal(ctx)
	id := r.PathValue("id")
	if _, err := s.store.GetConversation(ctx, p.TenantID, id); err != nil {
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			writeProblem(w, http.StatusNotFound, fmt.Sprintf("conversation %q not found", id), "path.id")
			return
		}
		if s.unavailable(err) {
			w.Header().Set("Retry-After", retryAfterOutage)
			writeProblem(w, http.StatusServiceUnavailable, unavailableDetail, "")
			return
		}
		s.logger.ErrorContext(ctx, "events", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "")
		return
	}
	after := int64(0)
	if v := firstNonEmpty(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeProblem(w, http.StatusBadRequest, "Last-Event-ID (or after) is an event id", "header.Last-Event-ID")
			return
		}
		after = n
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeProblem(w, http.StatusInternalServerError, "streaming unsupported", "")
		return
	}
	release, scope := s.limiter.hold(p)
	if scope != "" {
		s.limiter.refused.WithLabelValues(scope, "streams").Inc()
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusTooManyRequests, "too many open event streams and waits for this "+scope+"; close one first",
			"header.Authorization")
		return
	}
	defer release()
	signals, cancel := s.hub.Subscribe(id)
	defer cancel()
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	// No write deadline for a stream: it ends when the client goes.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": parley event stream\n\n")
	flusher.Flush()

	drain := func() error {
		for {
			evs, err := s.store.ListEvents(ctx, p.TenantID, id, after, 200)
			if err != nil {
				return err
			}
			for _, e := range evs {
				b, _ := json.Marshal(e) // an Event always encodes
				if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b); err != nil {
					return err
				}
				after = e.ID
			}
			if len(evs) < 200 {
				flusher.Flush()
				return nil
			}
		}
	}
	if err := drain(); err != nil {
		return
	}
	// The last words of a stream ended by a revocation or a shutdown, also
	// when it ends in the middle of a read of the store (whose context it
	// was).
	bye := func() {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errRevoked):
			fmt.Fprint(w, ": the token was revoked\n\n")
		case errors.Is(cause, errDraining):
			// A client reconnects at once, to another replica.
			fmt.Fprint(w, ": the server is shutting down\nretry: 250\n\n")
		}
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			bye()
			return
		case sig := <-signals:
			if sig.Delta != nil {
				b, _ := json.Marshal(sig.Delta)
				if _, err := fmt.Fprintf(w, "event: message.delta\ndata: %s\n\n", b); err != nil {
					return
				}
				flusher.Flush()
				continue
			}
			if err := drain(); err != nil {
				bye()
				return
			}
		case <-tick.C:
			// The store is read now and then even without news: a signal
			// lost (a replica that died before telling the others) costs
			// at most this long.
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := drain(); err != nil {
				bye()
				return
			}
		}
	}
}

// waitFor reads how long a caller asks to wait for the reply: ?wait=30s
// (or 30) or Prefer: wait=30 (RFC 7240), bounded by MaxWait.
func waitFor(query, prefer string) (time.Duration, error) {
	v := query
	if v == "" {
		for _, part := range strings.Split(prefer, ",") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(part), "wait="); ok {
				v = s
			}
		}
	}
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil || n < 0 {
			return 0, huma.Error422UnprocessableEntity("invalid wait",
				&huma.ErrorDetail{Message: "a duration such as 30s, or seconds", Location: "query.wait", Value: v})
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, huma.Error422UnprocessableEntity("invalid wait",
			&huma.ErrorDetail{Message: "a wait is not negative", Location: "query.wait", Value: v})
	}
	return min(d, MaxWait), nil
}

// replyOutcome is what a waiting caller gets.
type replyOutcome struct {
	reply  *parley.Message
	status string // replied, failed, pending
}

// awaitReply waits until a bot reply covers the user message at seq, the
// reply fails, or the wait ends. signals must be subscribed before the
// message was appended, so that no news is missed: a message the append
// stored (fresh) has no outcome before the first signal, and the store is
// read only once one comes; a replayed one may have had its reply already.
func (s *Server) awaitReply(ctx context.Context, tenantID, conversationID string, seq int64, fresh bool, signals <-chan live.Signal, wait time.Duration) (replyOutcome, error) {
	ctx, stop := s.untilRevoked(ctx)
	defer stop()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// A wait ended by a revocation or a shutdown, also in the middle of a
	// read of the store (whose context it was).
	ended := func() (replyOutcome, bool, error) {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errRevoked):
			return replyOutcome{}, true, cause
		case errors.Is(cause, errDraining):
			return replyOutcome{status: "pending"}, true, nil // made later all the same
		}
		return replyOutcome{}, false, nil
	}
	for read := !fresh; ; read = true {
		if read {
			msgs, err := s.store.ListMessages(ctx, tenantID, conversationID, parley.HistoryQuery{Limit: 50, AfterSeq: seq - 1})
			if err != nil {
				if o, ok, err := ended(); ok {
					return o, err
				}
				return replyOutcome{}, err
			}
			if o := findReply(msgs, seq); o.status != "" {
				return o, nil
			}
		}
		// Read again once an event is stored: a delta (a piece of a reply
		// being made, many a reply) stores nothing.
	wait:
		for {
			select {
			case <-ctx.Done():
				if o, ok, err := ended(); ok {
					return o, err
				}
				return replyOutcome{}, ctx.Err()
			case <-timer.C:
				return replyOutcome{status: "pending"}, nil
			case sig := <-signals:
				if sig.Delta == nil {
					break wait
				}
			}
		}
	}
}

// findReply looks for the outcome of the user message at seq in msgs, the
// messages from seq on; its status is empty when there is none yet.
func findReply(msgs []parley.Message, seq int64) replyOutcome {
	for i, m := range msgs {
		if i == 0 && m.Seq == seq && m.Status == parley.StatusReplyFailed {
			return replyOutcome{status: "failed"}
		}
		if m.FromBot && answers(m, seq) {
			return replyOutcome{reply: &msgs[i], status: "replied"}
		}
	}
	return replyOutcome{}
}

// answers tells whether a bot message is the reply covering seq.
func answers(m parley.Message, seq int64) bool {
	var meta struct {
		Reply struct {
			Answers []int64 `json:"answers_seq"`
		} `json:"reply"`
	}
	if json.Unmarshal(m.Metadata, &meta) != nil || len(meta.Reply.Answers) != 2 {
		return false
	}
	return meta.Reply.Answers[0] <= seq && seq <= meta.Reply.Answers[1]
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

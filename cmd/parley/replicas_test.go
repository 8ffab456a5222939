package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
)

// balancer is the test's load balancer: each request goes to the next
// replica that answers (a dead one is skipped), as a health-checking
// balancer in front of replicas does.
type balancer struct {
	mu       sync.Mutex
	backends []*server
	next     int
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	lb.mu.Lock()
	order := make([]*server, len(lb.backends))
	for i := range order {
		order[i] = lb.backends[(lb.next+i)%len(lb.backends)]
	}
	lb.next++
	lb.mu.Unlock()
	for _, b := range order {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, b.url+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // that replica is down: the next
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
		res.Body.Close()
		return
	}
	http.Error(w, "no replica answered", http.StatusBadGateway)
}

// TestReplicasUnderFaults runs three replicas on one PostgreSQL behind a
// balancer with a mixed load — user messages (each retried under its
// Idempotency-Key until acknowledged), replies through the queue, webhooks,
// event streams held on the replica nobody writes to — and kills one
// replica with SIGKILL in the middle, then restarts it. Every acknowledged
// message is stored once with gap-free seqs, every user message answered
// once, every reply delivered (retries under one webhook-id), and every
// stream saw every reply in order.
func TestReplicasUnderFaults(t *testing.T) {
	t.Parallel()
	recv := newHookReceiver(t)
	env := []string{"PARLEY_DATABASE_URL=" + pgtest.SchemaURL(t), "PARLEY_ALLOW_PRIVATE_NETWORKS=true",
		"PARLEY_WEBHOOK_RETRY_SCHEDULE=1s,1s,2s,3s", "PARLEY_REPLY_TIMEOUT=2s"}
	replicas := []*server{start(t, env...), start(t, env...), start(t, env...)}
	lb := &balancer{backends: replicas[:2]} // the third only holds streams
	front := httptest.NewServer(lb)
	t.Cleanup(front.Close)
	call := func(method, path string, body any, headers ...string) (int, map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, front.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+replicas[0].token)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out, nil
	}
	status, _, err := call("POST", "/api/bots", map[string]any{"id": "bot-1", "webhook": recv.URL + "/hook",
		"reply": map[string]any{"debounce_ms": 0, "policy": "enqueue"}})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	const conversations, perConversation = 8, 12
	convs := make([]string, conversations)
	for i := range convs {
		status, body, err := call("POST", "/api/conversations",
			map[string]any{"bot_id": "bot-1", "user_id": fmt.Sprintf("u%d", i), "create_user_if_not_exists": true})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		convs[i] = body["conversation"].(map[string]any)["id"].(string)
	}

	// A stream per conversation on the third replica: the bot replies' seqs, as they come.
	streamed := make([][]int64, conversations)
	var streamMu sync.Mutex
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for i, conv := range convs {
		req, _ := http.NewRequestWithContext(ctx, "GET", replicas[2].url+"/api/conversations/"+conv+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+replicas[2].token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode)
		go func() {
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				var ev struct {
					Type string `json:"type"`
					Data struct {
						Seq     int64 `json:"seq"`
						FromBot bool  `json:"from_bot"`
					} `json:"data"`
				}
				if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == "message.created" && ev.Data.FromBot {
					streamMu.Lock()
					streamed[i] = append(streamed[i], ev.Data.Seq)
					streamMu.Unlock()
				}
			}
		}()
	}

	// The load: each message retried under its key until acknowledged.
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i, conv := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perConversation {
				key := fmt.Sprintf("c%d-m%d", i, j)
				for attempt := 0; ; attempt++ {
					status, _, err := call("POST", "/api/conversations/"+conv+"/messages",
						map[string]any{"message": map[string]any{"text": key}}, "Idempotency-Key", key)
					if err == nil && (status == 201 || status == 200) {
						acked.Add(1)
						break
					}
					if attempt == 200 {
						t.Errorf("message %s never acknowledged (last %d %v)", key, status, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	inFlight := int64(conversations*perConversation) - acked.Load()
	replicas[0].kill() // SIGKILL, mid-load
	killedAt := time.Now()
	wg.Wait()
	replicas[0] = start(t, env...)
	healthy := time.Since(killedAt)

	// Everything settles: each conversation's messages, answered once each.
	check := func() error {
		for i, conv := range convs {
			status, body, err := replicas[1].call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
			if err != nil || status != 200 {
				return fmt.Errorf("history: %d %v", status, err)
			}
			users := map[string]int{}
			answered := map[int64]int{}
			var userSeqs, replies []int64
			for k, m := range body["messages"].([]any) {
				m := m.(map[string]any)
				seq := int64(m["seq"].(float64))
				if seq != int64(k+1) {
					return fmt.Errorf("conversation %d: seq %d at place %d (a gap)", i, seq, k+1)
				}
				if m["from_bot"] == false {
					users[m["text"].(string)]++
					userSeqs = append(userSeqs, seq)
					continue
				}
				replies = append(replies, seq)
				r := m["metadata"].(map[string]any)["reply"].(map[string]any)["answers_seq"].([]any)
				for q := int64(r[0].(float64)); q <= int64(r[1].(float64)); q++ {
					answered[q]++
				}
			}
			if len(users) != perConversation {
				return fmt.Errorf("conversation %d: %d distinct messages stored of %d", i, len(users), perConversation)
			}
			for text, n := range users {
				if n != 1 {
					return fmt.Errorf("conversation %d: %q stored %d times", i, text, n)
				}
			}
			for _, u := range userSeqs {
				if answered[u] != 1 {
					return fmt.Errorf("conversation %d: message %d answered %d times", i, u, answered[u])
				}
			}
			streamMu.Lock()
			got := append([]int64(nil), streamed[i]...)
			streamMu.Unlock()
			if fmt.Sprint(got) != fmt.Sprint(replies) {
				return fmt.Errorf("conversation %d: the stream saw replies %v, the history has %v", i, got, replies)
			}
		}
		return nil
	}
	var settled error
	for deadline := time.Now().Add(180 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if settled = check(); settled == nil {
			break
		}
	}
	require.NoError(t, settled)

	// Every reply is delivered, under one webhook-id however often retried.
	var replyIDs []string
	for _, conv := range convs {
		_, body, err := replicas[1].call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
		require.NoError(t, err)
		for _, m := range body["messages"].([]any) {
			if m := m.(map[string]any); m["from_bot"] == true {
				replyIDs = append(replyIDs, m["id"].(string))
			}
		}
	}
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		got := recv.replyDeliveries(t)
		missing = missing[:0]
		for _, id := range replyIDs {
			if len(got[id]) == 0 {
				missing = append(missing, id)
			}
			require.LessOrEqual(t, len(got[id]), 1, "reply %s delivered under %d webhook-ids", id, len(got[id]))
		}
		if len(missing) == 0 {
			break
		}
	}
	require.Empty(t, missing, "replies never delivered")
	t.Logf("| fault | in flight | lost | until every replica was healthy |\n|---|---|---|---|\n| kill -9 of one of 3 replicas | %d of %d messages not yet acknowledged (%d replies in all) | 0 | %s (restart and ready) |",
		inFlight, conversations*perConversation, len(replyIDs), healthy.Round(100*time.Millisecond))
}

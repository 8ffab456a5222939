package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
)

// TestReplicasUnderFaults is the chaos test: three replicas on a
// PostgreSQL server of the test's own, behind a balancer, under a mixed
// load — user messages (each retried under its Idempotency-Key until
// acknowledged), replies through the queue, webhooks, and event streams
// held on the replica nobody writes to — while one fault after another is
// injected: kill -9 of a replica, a rolling restart of all three,
// PostgreSQL restarted with a fast and with an immediate shutdown, and
// the network between one replica and the database stalled for 10 s.
// After each: every acknowledged message is stored once with gap-free
// seqs, every user message answered once, every reply delivered (retries
// under one webhook-id), every stream saw every reply in order, and no
// request was answered 500. It logs the fault table of docs/chaos.md.
func TestReplicasUnderFaults(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // PostgreSQL is installed (CI) or the test is skipped
	pg := startPostgres(t)
	proxy := newStallProxy(t, pg.addr)
	// Replica 0 reaches the database through the proxy that can stall.
	c := newCluster(t, [3][]string{{"PARLEY_DATABASE_URL=" + strings.Replace(pg.url, pg.addr, proxy.addr(), 1)},
		{"PARLEY_DATABASE_URL=" + pg.url}, {"PARLEY_DATABASE_URL=" + pg.url}})
	faults := []struct {
		name   string
		inject func() // returns once the fault is over (what was stopped is started again)
	}{
		{"kill -9 of one of 3 replicas", func() {
			c.replica(0).kill()
			c.restart(0)
		}},
		{"rolling restart of all 3 replicas (SIGTERM, then start)", func() {
			for i := range c.replicas {
				c.replica(i).terminate(t)
				c.restart(i)
			}
		}},
		{"PostgreSQL restart, fast shutdown, 2 s down", func() { pg.restart(t, "fast", 2*time.Second) }},
		{"PostgreSQL restart, immediate shutdown, 2 s down", func() { pg.restart(t, "immediate", 2*time.Second) }},
		{"network between one replica and PostgreSQL stalled 10 s", func() { proxy.stall(10 * time.Second) }},
	}
	table := "| fault | in flight | lost | answers 5xx but 503 | slowest answer | until every replica was ready | until every reply was made |\n|---|---|---|---|---|---|---|"
	for n, f := range faults {
		r := c.underLoad(fmt.Sprintf("f%d", n), f.inject)
		t.Logf("%s: %+v", f.name, r)
		table += fmt.Sprintf("\n| %s | %d of %d messages not yet acknowledged | %d | %d | %s | %s | %s |", f.name, r.inFlight, r.messages,
			r.lost, r.errors, r.slowest.Round(100*time.Millisecond), r.ready.Round(100*time.Millisecond), r.settled.Round(100*time.Millisecond))
	}
	t.Log("fault table\n" + table)
}

// TestReplicasThroughPgBouncer: the same load on three replicas whose
// statements all go through PgBouncer in transaction mode (LISTEN and the
// migrations straight to PostgreSQL), with one of them killed with SIGKILL
// in the middle: nothing lost, nothing twice, every stream complete.
func TestReplicasThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooled, direct := pgtest.Pooled(t)
	env := []string{"PARLEY_DATABASE_URL=" + pooled, "PARLEY_DATABASE_DIRECT_URL=" + direct}
	c := newCluster(t, [3][]string{env, env, env})
	r := c.underLoad("bouncer", func() {
		c.replica(0).kill()
		c.restart(0)
	})
	t.Logf("through PgBouncer, kill -9 of one of 3 replicas: %+v", r)
}

// cluster is three replicas, the balancer in front of the first two (the
// third only holds streams) and the webhook receiver behind them.
type cluster struct {
	t     *testing.T
	recv  *hookReceiver
	env   [3][]string // each replica's environment
	front string      // the balancer

	mu       sync.Mutex
	replicas [3]*server
}

// newCluster starts three replicas, each with its environment (where its
// database is), and the bot they answer for.
func newCluster(t *testing.T, env [3][]string) *cluster {
	c := &cluster{t: t, recv: newHookReceiver(t)}
	for i := range env {
		c.env[i] = slices.Concat(env[i], []string{"PARLEY_ALLOW_PRIVATE_NETWORKS=true", "PARLEY_WEBHOOK_RETRY_SCHEDULE=1s,1s,2s,3s",
			"PARLEY_REPLY_TIMEOUT=2s"})
		c.replicas[i] = start(t, c.env[i]...)
	}
	front := httptest.NewServer(&balancer{backends: c.writers})
	t.Cleanup(front.Close)
	c.front = front.URL
	status, _, err := c.call("POST", "/api/bots", map[string]any{"id": "bot-1", "webhook": c.recv.URL + "/hook",
		"reply": map[string]any{"debounce_ms": 0, "policy": "enqueue"}})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	return c
}

func (c *cluster) replica(i int) *server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replicas[i]
}

func (c *cluster) writers() []*server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []*server{c.replicas[0], c.replicas[1]}
}

// restart starts replica i again (on a new port) once it is ready.
func (c *cluster) restart(i int) {
	s := start(c.t, c.env[i]...)
	c.mu.Lock()
	c.replicas[i] = s
	c.mu.Unlock()
}

// call sends a request through the balancer.
func (c *cluster) call(method, path string, body any, headers ...string) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.front+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+c.replica(1).token)
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

// faultResult is one row of the fault table.
type faultResult struct {
	messages, inFlight, lost, errors int
	slowest, ready, settled          time.Duration
}

// underLoad runs a load on fresh conversations, injects the fault in its
// middle, and checks what the cluster kept once it has settled.
func (c *cluster) underLoad(name string, inject func()) faultResult {
	t := c.t
	const conversations, perConversation = 6, 12
	convs := make([]string, conversations)
	for i := range convs {
		status, body, err := c.call("POST", "/api/conversations",
			map[string]any{"bot_id": "bot-1", "user_id": fmt.Sprintf("%s-u%d", name, i), "create_user_if_not_exists": true})
		require.NoError(t, err)
		require.Equal(t, 201, status, "%v", body)
		convs[i] = body["conversation"].(map[string]any)["id"].(string)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	streams := make([]*follower, conversations)
	for i, conv := range convs {
		streams[i] = c.follow(ctx, conv)
	}

	var acked, failures atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i, conv := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perConversation {
				key := fmt.Sprintf("%s-c%d-m%d", name, i, j)
				for attempt := 0; ; attempt++ {
					began := time.Now()
					status, _, err := c.call("POST", "/api/conversations/"+conv+"/messages",
						map[string]any{"message": map[string]any{"text": key}}, "Idempotency-Key", key)
					if took := int64(time.Since(began)); took > slowest.Load() {
						slowest.Store(took) // racy max: a figure for the table, not a check
					}
					if err == nil && (status == 201 || status == 200) {
						acked.Add(1)
						break
					}
					if err == nil && status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusBadGateway {
						failures.Add(1) // 502: the balancer found no replica (all restarting); 503: the database is away
					}
					if attempt == 600 {
						t.Errorf("message %s never acknowledged (last %d %v)", key, status, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	inFlight := conversations*perConversation - int(acked.Load())
	faultAt := time.Now()
	inject()
	c.waitReady()
	ready := time.Since(faultAt)
	wg.Wait()

	// Everything settles: each conversation's messages, answered once each.
	var replyIDs []string
	check := func() error {
		replyIDs = replyIDs[:0]
		for i, conv := range convs {
			status, body, err := c.replica(1).call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
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
				replyIDs = append(replyIDs, m["id"].(string))
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
			if got := streams[i].replies(); fmt.Sprint(got) != fmt.Sprint(replies) {
				return fmt.Errorf("conversation %d: the stream saw replies %v, the history has %v", i, got, replies)
			}
		}
		return nil
	}
	var settled error
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if settled = check(); settled == nil {
			break
		}
	}
	require.NoError(t, settled, "%s", name)
	settledAfter := time.Since(faultAt)

	// Every reply is delivered, under one webhook-id however often retried.
	// A delivery job that a replica had fetched when the fault cut it off
	// (its fetch committed, its answer lost) is retried by River's rescuer:
	// after the delivery's timeout and up to the rescuer's 30 s.
	var missing []string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		got := c.recv.replyDeliveries(t)
		missing = missing[:0]
		for _, id := range replyIDs {
			if len(got[id]) == 0 {
				missing = append(missing, id)
			}
			require.LessOrEqual(t, len(got[id]), 1, "%s: reply %s delivered under %d webhook-ids", name, id, len(got[id]))
		}
		if len(missing) == 0 {
			break
		}
	}
	require.Empty(t, missing, "%s: replies never delivered", name)
	require.Zero(t, failures.Load(), "%s: answers 5xx other than 502/503 during the fault; the replicas logged:\n%s", name, c.errorLogs())
	return faultResult{messages: conversations * perConversation, inFlight: inFlight, lost: 0, errors: int(failures.Load()),
		slowest: time.Duration(slowest.Load()), ready: ready, settled: settledAfter}
}

// errorLogs are what the replicas logged of their 500 answers.
func (c *cluster) errorLogs() string {
	var out []string
	for i := range c.replicas {
		for _, line := range strings.Split(c.replica(i).logs.String(), "\n") {
			if strings.Contains(line, `"msg":"internal error"`) || strings.Contains(line, `"status":500`) {
				out = append(out, fmt.Sprintf("replica %d: %s", i, line))
			}
		}
	}
	return strings.Join(out, "\n")
}

// waitReady returns once every replica's /readyz answers 200.
func (c *cluster) waitReady() {
	for i := range c.replicas {
		deadline := time.Now().Add(60 * time.Second)
		for {
			res, err := http.Get(c.replica(i).url + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			require.True(c.t, time.Now().Before(deadline), "replica %d never ready again:\n%s", i, c.replica(i).logs)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// follower is a client following a conversation's events on the third
// replica, as a browser's EventSource does: when the stream ends it
// connects again (to the replica there is now) with Last-Event-ID.
type follower struct {
	mu   sync.Mutex
	seqs []int64 // the bot replies' seqs, as they came
}

func (f *follower) replies() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.seqs...)
}

func (c *cluster) follow(ctx context.Context, conv string) *follower {
	f := &follower{}
	lastID := ""
	go func() {
		for ctx.Err() == nil {
			s := c.replica(2)
			req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/conversations/"+conv+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+s.token)
			if lastID != "" {
				req.Header.Set("Last-Event-ID", lastID)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 200 {
				if err == nil {
					res.Body.Close()
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			var id string
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "id: "); ok {
					id = v
					continue
				}
				data, ok := strings.CutPrefix(line, "data: ")
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
				if json.Unmarshal([]byte(data), &ev) == nil && ev.Type == "message.created" && ev.Data.FromBot {
					f.mu.Lock()
					f.seqs = append(f.seqs, ev.Data.Seq)
					f.mu.Unlock()
				}
				if id != "" {
					lastID, id = id, ""
				}
			}
			res.Body.Close()
		}
	}()
	return f
}

// balancer is the test's load balancer over the writing replicas: a
// request goes to the next one, and on to another when that one is down
// or answers 503, as a health-checking balancer does.
type balancer struct {
	backends func() []*server
	next     atomic.Int64
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	backends := lb.backends()
	first := int(lb.next.Add(1))
	var last *http.Response
	for i := range backends {
		b := backends[(first+i)%len(backends)]
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, b.url+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // that replica is down: the next
		}
		if res.StatusCode == http.StatusServiceUnavailable && i < len(backends)-1 {
			res.Body.Close()
			continue
		}
		last = res
		break
	}
	if last == nil {
		http.Error(w, "no replica answered", http.StatusBadGateway)
		return
	}
	defer last.Body.Close()
	for k, v := range last.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(last.StatusCode)
	_, _ = io.Copy(w, last.Body)
}

// terminate stops the server as an orchestrator does: SIGTERM, and the
// graceful shutdown it starts.
func (s *server) terminate(t *testing.T) {
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	err := s.cmd.Wait()
	require.NoError(t, err, "a graceful shutdown exits 0:\n%s", s.logs)
}

// pgServer is a PostgreSQL server of the test's own (scripts/postgres.sh),
// which the test may stop and start again on the same port.
type pgServer struct {
	dir, url, addr string
}

func startPostgres(t *testing.T) *pgServer {
	out, err := exec.Command("../../scripts/postgres.sh").Output()
	require.NoError(t, err)
	f := strings.Fields(string(out))
	require.Len(t, f, 2, "postgres.sh printed %q", out)
	pg := &pgServer{dir: f[0], url: f[1]}
	t.Cleanup(func() { _ = exec.Command("../../scripts/postgres.sh", "stop", pg.dir).Run() })
	host, _, _ := strings.Cut(strings.TrimPrefix(pg.url, "postgres://postgres@"), "/")
	pg.addr = host
	return pg
}

// restart stops the server with a shutdown mode (fast: sessions are ended;
// immediate: as a crash, recovered from the WAL at start), keeps it down
// for a while and starts it again.
func (pg *pgServer) restart(t *testing.T, mode string, down time.Duration) {
	out, err := exec.Command("../../scripts/postgres.sh", "halt", pg.dir, mode).CombinedOutput()
	require.NoError(t, err, "%s", out)
	time.Sleep(down)
	out, err = exec.Command("../../scripts/postgres.sh", "resume", pg.dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// stallProxy forwards TCP connections to a target and can stop forwarding
// for a while, both ways, without closing anything: a network that stalls
// (no errors, no packets) and then recovers.
type stallProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   chan struct{} // closed while forwarding
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln, target: target, open: make(chan struct{})}
	close(p.open)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(conn)
		}
	}()
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

func (p *stallProxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// stall stops forwarding for d (new connections wait too), then resumes.
func (p *stallProxy) stall(d time.Duration) {
	p.mu.Lock()
	p.open = make(chan struct{})
	open := p.open
	p.mu.Unlock()
	time.Sleep(d)
	close(open)
}

func (p *stallProxy) forward(client net.Conn) {
	defer client.Close()
	<-p.gate()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// One side is gone: end both, as the network would.
		client.Close()
		server.Close()
	}
	go pipe(server, client)
	pipe(client, server)
}

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
)

// DeliveryStore is what the delivery benchmark needs.
type DeliveryStore interface {
	parley.Accounts
	parley.Conversations
}

// DeliveryResult is one store's delivery figures.
type DeliveryResult struct {
	Store      string
	LatencyP50 time.Duration // event stored -> receiver has it, one at a time
	LatencyP99 time.Duration
	PerSecond  float64 // deliveries of a burst
	Burst      int
}

// Deliveries measures webhook delivery: the store must run a webhook worker
// allowed to reach loopback. Latency is from the append's return (the
// event and its delivery job are committed) to the receiver's handler;
// throughput is a burst of events delivered as fast as the workers go.
func Deliveries(ctx context.Context, name string, st DeliveryStore, opts Options) (*DeliveryResult, error) {
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	var count atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Data struct {
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		arrived[p.Data.Message.Text] = time.Now()
		mu.Unlock()
		count.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	tenant, err := st.EnsureTenant(ctx, "bench-delivery")
	if err != nil {
		return nil, err
	}
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot", Webhook: recv.URL}); err != nil {
		return nil, err
	}
	convs := make([]string, 50)
	for i := range convs {
		c, _, err := st.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
			ConversationKey: parley.ConversationKey{BotID: "bot", UserID: fmt.Sprintf("u%d", i)}, CreateUser: true})
		if err != nil {
			return nil, err
		}
		convs[i] = c.ID
	}
	// conversation.created deliveries first: let them drain.
	for deadline := time.Now().Add(30 * time.Second); count.Load() < int64(len(convs)) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	r := &DeliveryResult{Store: name, Burst: 2000}
	// Latency: one event at a time.
	samples := min(opts.Samples, 500)
	lat := make([]time.Duration, 0, samples)
	for i := range samples {
		text := "latency-" + strconv.Itoa(i)
		if _, err := st.AppendMessage(ctx, tenant.ID, convs[i%len(convs)], parley.NewMessage{FromBot: true, Text: text, Bubbles: []string{text}}); err != nil {
			return nil, err
		}
		stored := time.Now()
		for deadline := stored.Add(10 * time.Second); ; {
			mu.Lock()
			at, ok := arrived[text]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(stored))
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("delivery of %s did not arrive", text)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	r.LatencyP50, r.LatencyP99 = pct(lat, 50), pct(lat, 99)
	// Throughput: a burst.
	base := count.Load()
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	// As many writers as the core suite's clients: the burst is stored
	// faster than it is delivered, so the figure is the deliveries'.
	const writers = 64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < r.Burst; i += writers {
				text := "burst-" + strconv.Itoa(i)
				if _, err := st.AppendMessage(ctx, tenant.ID, convs[i%len(convs)], parley.NewMessage{FromBot: true, Text: text, Bubbles: []string{text}}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	appended := time.Since(start)
	for deadline := time.Now().Add(120 * time.Second); count.Load()-base < int64(r.Burst); {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("burst: %d of %d delivered", count.Load()-base, r.Burst)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.PerSecond = float64(r.Burst) / time.Since(start).Seconds()
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "%s deliveries: p50 %v p99 %v, %.0f/s (the burst appended in %v)\n", name, r.LatencyP50, r.LatencyP99, r.PerSecond, appended.Round(time.Millisecond))
	}
	return r, nil
}

// StreamResult is the memory an open event stream costs the server.
type StreamResult struct {
	Streams      int
	BaseRSS      int64 // bytes, before
	RSS          int64 // with the streams open
	PerStream    int64
	Projected50k int64
}

// Streams opens n event streams on the real binary (bin serve, SQLite) and
// reads its resident memory from /proc before and after.
func Streams(ctx context.Context, bin string, n int) (*StreamResult, error) {
	// Every stream is a descriptor on both sides; the server inherits the
	// limit. Raising the hard limit takes root (or CAP_SYS_RESOURCE).
	need := uint64(n + 4096)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	if lim.Cur < need {
		raised := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			// Not allowed here: as many streams as the hard limit allows,
			// and the table says how many that was.
			lim.Cur = lim.Max
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				return nil, err
			}
			n = min(n, int(lim.Max)-4096)
			if n <= 0 {
				return nil, fmt.Errorf("streams: the open-file limit (%d) leaves no room for streams", lim.Max)
			}
		}
	}
	dir, err := os.MkdirTemp("", "parley-streams")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	token := "prly_bench-streams"
	cmd := exec.CommandContext(ctx, bin, "serve")
	// One token opens every stream, as fast as it can: the limits on the
	// streams a token and a tenant may hold (1,000 and 10,000 by default)
	// and on their requests a second are lifted, as an operator expecting
	// that many would.
	cmd.Env = append(os.Environ(), "PARLEY_ADDR="+addr, "PARLEY_DATA_DIR="+dir, "PARLEY_BOOTSTRAP_TOKEN="+token,
		"PARLEY_DATABASE_URL=", "PARLEY_LOG_LEVEL=error", "PARLEY_STREAMS_TOKEN=0", "PARLEY_STREAMS_TENANT=0",
		"PARLEY_RATE_TOKEN=0", "PARLEY_RATE_TENANT=0")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c := &client.Client{BaseURL: "http://" + addr, Token: token}
	if err := started(ctx, c); err != nil {
		return nil, err
	}
	if _, err := c.CreateBot(ctx, client.Bot{ID: "bot"}); err != nil {
		return nil, err
	}
	convs := make([]string, 100)
	for i := range convs {
		conv, err := c.Conversation(ctx, "bot", "u"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		convs[i] = conv.ID
	}
	time.Sleep(500 * time.Millisecond)
	r := &StreamResult{Streams: n, BaseRSS: rss(cmd.Process.Pid)}
	// Plain connections, one stream each: no client pooling in the way.
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	// One source address has some 28,000 ephemeral ports towards one
	// listener: spread the streams over 127.0.0.1, 127.0.0.2, ...
	const perSource = 20_000
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/perSource))}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i, err)
		}
		fmt.Fprintf(conn, "GET /api/conversations/%s/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", convs[i%len(convs)], addr, token)
		br := bufio.NewReader(conn)
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, "200") {
			conn.Close()
			return nil, fmt.Errorf("stream %d: %q %v", i, status, err)
		}
		go io.Copy(io.Discard, br)
		conns = append(conns, conn)
	}
	time.Sleep(2 * time.Second)
	r.RSS = rss(cmd.Process.Pid)
	r.PerStream = (r.RSS - r.BaseRSS) / int64(n)
	r.Projected50k = r.BaseRSS + 50_000*r.PerStream // the measure itself when n is 50,000
	return r, nil
}

// rss is a process's resident memory, from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// DeliveryTable renders delivery and stream results with issue #4's targets.
func DeliveryTable(rs []*DeliveryResult, s *StreamResult) string {
	var b strings.Builder
	b.WriteString("| measure | target |")
	for _, r := range rs {
		b.WriteString(" " + r.Store + " |")
	}
	b.WriteString("\n|---|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("\n| webhook delivery latency (stored → receiver) p50 / p99 | p99 < 20 ms |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %.2f / %.2f ms |", ms(r.LatencyP50), ms(r.LatencyP99))
	}
	b.WriteString("\n| webhook deliveries per second (burst) | ≥ 1,000/s |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %.0f/s (%d) |", r.PerSecond, r.Burst)
	}
	b.WriteString("\n")
	if s != nil {
		fmt.Fprintf(&b, "\nOpen event streams: %d streams took the server from %.0f MiB to %.0f MiB resident (%.2f GiB), %.1f KiB per stream",
			s.Streams, float64(s.BaseRSS)/(1<<20), float64(s.RSS)/(1<<20), float64(s.RSS)/(1<<30), float64(s.PerStream)/1024)
		if s.Streams < 50_000 {
			fmt.Fprintf(&b, "; 50,000 streams would take about %.2f GiB", float64(s.Projected50k)/(1<<30))
		}
		b.WriteString(" (target: 50,000 streams in < 4 GiB).\n")
	}
	return b.String()
}

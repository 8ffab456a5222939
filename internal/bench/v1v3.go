package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/client"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// V1V3Result compares one conversation driven through V1 and V3.
type V1V3Result struct {
	Turns        int
	V1Bytes      []int // request bytes per turn
	V3Bytes      []int
	V1Latency    []time.Duration
	V3Latency    []time.Duration
	V1CPUPerTurn time.Duration // the server's CPU
	V3CPUPerTurn time.Duration
	V1LayerP50   time.Duration // a V1 call with a 100-turn history, answered from the store
	V1LayerP99   time.Duration
	V3AppendP50  time.Duration // a V3 append, the same conversation
	V3AppendP99  time.Duration
}

// V1V3 starts the real binary (bin serve) on SQLite in a temporary data
// directory and drives the same conversation of turns user messages
// through V1 (/v2/complete, whole history each time) and V3 (new message
// only, ?wait for the reply). The server's CPU is read from /proc.
func V1V3(ctx context.Context, bin string, turns int, opts Options) (*V1V3Result, error) {
	dir, err := os.MkdirTemp("", "parley-v1v3")
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
	token := "prly_bench-v1v3"
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "PARLEY_ADDR="+addr, "PARLEY_DATA_DIR="+dir, "PARLEY_BOOTSTRAP_TOKEN="+token,
		"PARLEY_DATABASE_URL=", "PARLEY_LOG_LEVEL=warn", "PARLEY_LLM_BASE_URL=")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	meter := &wireMeter{next: http.DefaultTransport}
	c := &client.Client{BaseURL: "http://" + addr, Token: token, HTTP: &http.Client{Transport: meter}}
	if err := started(ctx, c); err != nil {
		return nil, err
	}
	if _, err := c.CreateBot(ctx, client.Bot{ID: "bot", Name: "Bench", Reply: &parley.ReplySettings{DebounceMS: new(0)}}); err != nil {
		return nil, err
	}
	corpus, _ := loadCorpus(opts.CorpusDir)
	r := &V1V3Result{Turns: turns}

	// V1: the whole history on every call.
	var history []client.V1Message
	cpu0 := cpuTime(cmd.Process.Pid)
	for i := range turns {
		text := corpus[i%len(corpus)]
		t0 := time.Now()
		res, err := c.Complete(ctx, client.V1Request{ConversationID: "v1-chat", BotID: "bot", UserID: "u-v1", Message: text,
			Messages: history, Language: "en", Platform: "bench"})
		if err != nil {
			return nil, fmt.Errorf("v1 turn %d: %w", i+1, err)
		}
		r.V1Latency = append(r.V1Latency, time.Since(t0))
		r.V1Bytes = append(r.V1Bytes, int(meter.last.Load()))
		history = append(history, client.V1Message{Content: []string{text}}, client.V1Message{Bot: true, Content: res.Content})
	}
	r.V1CPUPerTurn = (cpuTime(cmd.Process.Pid) - cpu0) / time.Duration(turns)

	// V3: only the new message.
	conversation, err := c.Conversation(ctx, "bot", "u-v3")
	if err != nil {
		return nil, err
	}
	conv := conversation.ID
	cpu0 = cpuTime(cmd.Process.Pid)
	for i := range turns {
		text := corpus[i%len(corpus)]
		t0 := time.Now()
		sent, err := c.SendAndWait(ctx, conv, text, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("v3 turn %d: %w", i+1, err)
		}
		if sent.ReplyStatus != "replied" {
			return nil, fmt.Errorf("v3 turn %d: %v", i+1, sent.ReplyStatus)
		}
		r.V3Latency = append(r.V3Latency, time.Since(t0))
		r.V3Bytes = append(r.V3Bytes, int(meter.last.Load()))
	}
	r.V3CPUPerTurn = (cpuTime(cmd.Process.Pid) - cpu0) / time.Duration(turns)

	// The V1 layer's own cost: the last V1 call again. It is a retry, so
	// it is answered from the store (parse, reconcile a 100-turn history,
	// find the reply), with no model and no queue in the way.
	last := client.V1Request{ConversationID: "v1-chat", BotID: "bot", UserID: "u-v1",
		Message: corpus[(turns-1)%len(corpus)], Messages: history[:len(history)-2], Language: "en", Platform: "bench"}
	var v1, v3 []time.Duration
	for i := range opts.Samples {
		t0 := time.Now()
		if _, err := c.Complete(ctx, last); err != nil {
			return nil, err
		}
		v1 = append(v1, time.Since(t0))
		t0 = time.Now()
		if _, err := c.Send(ctx, conv, "operator note "+strconv.Itoa(i), true); err != nil {
			return nil, err
		}
		v3 = append(v3, time.Since(t0))
	}
	r.V1LayerP50, r.V1LayerP99 = pct(v1, 50), pct(v1, 99)
	r.V3AppendP50, r.V3AppendP99 = pct(v3, 50), pct(v3, 99)
	return r, nil
}

// wireMeter counts each request's size on the wire (request line,
// headers, body), as the V1/V3 comparison reports it.
type wireMeter struct {
	next http.RoundTripper
	last atomic.Int64 // the last request's bytes
}

func (m *wireMeter) RoundTrip(req *http.Request) (*http.Response, error) {
	cp := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		cp.Body = body
	}
	var n byteCounter
	if err := cp.Write(&n); err != nil {
		return nil, err
	}
	m.last.Store(int64(n))
	return m.next.RoundTrip(req)
}

type byteCounter int64

func (c *byteCounter) Write(b []byte) (int, error) { *c += byteCounter(len(b)); return len(b), nil }

// started waits until a server process answers /readyz.
func started(ctx context.Context, c *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return c.WaitReady(ctx, 50*time.Millisecond)
}

// cpuTime is a process's user plus system CPU time, from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// V1V3Table renders the comparison as Markdown.
func V1V3Table(r *V1V3Result) string {
	var b strings.Builder
	b.WriteString("| turn | V1 request bytes | V3 request bytes | V1 ÷ V3 | V1 latency | V3 latency |\n|---|---|---|---|---|---|\n")
	for _, t := range []int{1, 10, 25, 50, 75, r.Turns} {
		if t > r.Turns {
			continue
		}
		i := t - 1
		fmt.Fprintf(&b, "| %d | %d | %d | %.1f× | %.1f ms | %.1f ms |\n", t, r.V1Bytes[i], r.V3Bytes[i],
			float64(r.V1Bytes[i])/float64(r.V3Bytes[i]), ms(r.V1Latency[i]), ms(r.V3Latency[i]))
	}
	sum := func(xs []int) (s int) {
		for _, x := range xs {
			s += x
		}
		return s
	}
	fmt.Fprintf(&b, "| all %d turns | %d | %d | %.1f× | p50 %.1f ms | p50 %.1f ms |\n", r.Turns, sum(r.V1Bytes), sum(r.V3Bytes),
		float64(sum(r.V1Bytes))/float64(sum(r.V3Bytes)), ms(pct(r.V1Latency, 50)), ms(pct(r.V3Latency, 50)))
	fmt.Fprintf(&b, "\nServer CPU per turn: V1 %.2f ms, V3 %.2f ms. The V1 layer's own cost (a V1 call with a %d-turn history, "+
		"answered from the store) p50 / p99: %.2f / %.2f ms, against a V3 append's %.2f / %.2f ms: **%.2f ms** more at p99 (target < 1 ms).\n",
		ms(r.V1CPUPerTurn), ms(r.V3CPUPerTurn), r.Turns, ms(r.V1LayerP50), ms(r.V1LayerP99), ms(r.V3AppendP50), ms(r.V3AppendP99),
		ms(r.V1LayerP99-r.V3AppendP99))
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// V1V3Plot draws request bytes per turn for both APIs to an SVG or PNG file.
func V1V3Plot(r *V1V3Result, path string) error {
	p := plot.New()
	p.Title.Text = "Request bytes per turn: V1 sends the whole history, V3 only the new message"
	p.X.Label.Text = "turn"
	p.Y.Label.Text = "bytes sent"
	line := func(ys []int) plotter.XYs {
		pts := make(plotter.XYs, len(ys))
		for i, y := range ys {
			pts[i].X, pts[i].Y = float64(i+1), float64(y)
		}
		return pts
	}
	v1, err := plotter.NewLine(line(r.V1Bytes))
	if err != nil {
		return err
	}
	v1.Color = plotter.DefaultLineStyle.Color
	v3, err := plotter.NewLine(line(r.V3Bytes))
	if err != nil {
		return err
	}
	v3.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(v1, v3, plotter.NewGrid())
	p.Legend.Add("V1 /v2/complete", v1)
	p.Legend.Add("V3 POST /api/conversations/{id}/messages", v3)
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

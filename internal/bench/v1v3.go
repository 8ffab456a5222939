package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	base := "http://" + addr
	c := &client{base: base, token: token, http: &http.Client{}}
	for i := 0; ; i++ {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			return nil, fmt.Errorf("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := c.post("/api/bots", map[string]any{"id": "bot", "name": "Bench", "reply": map[string]any{"debounce_ms": 0}}); err != nil {
		return nil, err
	}
	corpus, _ := loadCorpus(opts.CorpusDir)
	r := &V1V3Result{Turns: turns}

	// V1: the whole history on every call.
	var history []map[string]any
	cpu0 := cpuTime(cmd.Process.Pid)
	for i := range turns {
		text := corpus[i%len(corpus)]
		body := map[string]any{"conversation_id": "v1-chat", "bot_id": "bot", "user_id": "u-v1", "message": text,
			"messages": history, "language": "en", "platform": "bench"}
		t0 := time.Now()
		n, res, err := c.post("/v2/complete", body)
		if err != nil {
			return nil, fmt.Errorf("v1 turn %d: %w", i+1, err)
		}
		r.V1Latency = append(r.V1Latency, time.Since(t0))
		r.V1Bytes = append(r.V1Bytes, n)
		history = append(history, map[string]any{"bot": false, "content": []string{text}},
			map[string]any{"bot": true, "content": res["content"]})
	}
	r.V1CPUPerTurn = (cpuTime(cmd.Process.Pid) - cpu0) / time.Duration(turns)

	// V3: only the new message.
	_, res, err := c.post("/api/conversations", map[string]any{"bot_id": "bot", "user_id": "u-v3", "create_user_if_not_exists": true})
	if err != nil {
		return nil, err
	}
	conv := res["conversation"].(map[string]any)["id"].(string)
	cpu0 = cpuTime(cmd.Process.Pid)
	for i := range turns {
		text := corpus[i%len(corpus)]
		t0 := time.Now()
		n, res, err := c.post("/api/conversations/"+conv+"/messages?wait=30s", map[string]any{"message": map[string]any{"text": text}})
		if err != nil {
			return nil, fmt.Errorf("v3 turn %d: %w", i+1, err)
		}
		if res["reply_status"] != "replied" {
			return nil, fmt.Errorf("v3 turn %d: %v", i+1, res["reply_status"])
		}
		r.V3Latency = append(r.V3Latency, time.Since(t0))
		r.V3Bytes = append(r.V3Bytes, n)
	}
	r.V3CPUPerTurn = (cpuTime(cmd.Process.Pid) - cpu0) / time.Duration(turns)

	// The V1 layer's own cost: the last V1 call again. It is a retry, so
	// it is answered from the store (parse, reconcile a 100-turn history,
	// find the reply), with no model and no queue in the way.
	last := map[string]any{"conversation_id": "v1-chat", "bot_id": "bot", "user_id": "u-v1",
		"message": corpus[(turns-1)%len(corpus)], "messages": history[:len(history)-2], "language": "en", "platform": "bench"}
	var v1, v3 []time.Duration
	for i := range opts.Samples {
		t0 := time.Now()
		if _, _, err := c.post("/v2/complete", last); err != nil {
			return nil, err
		}
		v1 = append(v1, time.Since(t0))
		t0 = time.Now()
		if _, _, err := c.post("/api/conversations/"+conv+"/messages", map[string]any{"message": map[string]any{
			"text": "operator note " + strconv.Itoa(i), "from_bot": true}}); err != nil {
			return nil, err
		}
		v3 = append(v3, time.Since(t0))
	}
	r.V1LayerP50, r.V1LayerP99 = pct(v1, 50), pct(v1, 99)
	r.V3AppendP50, r.V3AppendP99 = pct(v3, 50), pct(v3, 99)
	return r, nil
}

type client struct {
	base, token string
	http        *http.Client
}

// post sends a JSON body and returns the request's size on the wire
// (request line, headers, body) and the decoded answer.
func (c *client) post(path string, body any) (int, map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		return 0, nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, nil, err
	}
	if res.StatusCode >= 300 {
		return 0, nil, fmt.Errorf("%s: %d %v", path, res.StatusCode, out)
	}
	return wire.Len(), out, nil
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

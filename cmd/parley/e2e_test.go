package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/llm/llmtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/parley once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type server struct {
	url   string
	token string
	cmd   *exec.Cmd
	logs  *syncBuffer
}

// syncBuffer is the server's stderr: written by exec's copier, read by the
// test when it fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tool finds a program a test needs. Without it the test is skipped,
// except on CI (.ci/run installs it), where it fails.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed on CI", name)
		}
		t.Skip(name + " not installed")
	}
	return path
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// start runs "parley serve" with env and waits until it is ready.
func start(t *testing.T, env ...string) *server {
	t.Helper()
	// freeAddr's port is free when it looks, not when the server binds it:
	// another test's server may take it first. Then this one fails to
	// bind, and is started again on another port.
	for range 5 {
		if s := startOn(t, freeAddr(t), env); s != nil {
			return s
		}
	}
	t.Fatal("no free port for the server in five tries")
	return nil
}

// startOn runs "parley serve" on addr and waits until it is ready: its
// own log says it listens on addr (a ready answer there may come from
// another test's server), and /readyz answers 200. Nil: addr was taken.
func startOn(t *testing.T, addr string, env []string) *server {
	t.Helper()
	s := &server{url: "http://" + addr, token: "prly_e2e-bootstrap-token", logs: &syncBuffer{}}
	s.cmd = exec.Command(binary(t), "serve")
	// A data directory of the test's own unless env names one: on
	// PostgreSQL it still holds the blobs, which the default
	// (./parley-data) would leave in the source tree.
	s.cmd.Env = append(os.Environ(), "PARLEY_ADDR="+addr, "PARLEY_BOOTSTRAP_TOKEN="+s.token, "PARLEY_DATA_DIR="+dataDir(t))
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = s.logs
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		logs := s.logs.String()
		if strings.Contains(logs, "address already in use") {
			s.kill()
			return nil
		}
		if strings.Contains(logs, "parley listening") && strings.Contains(logs, addr) {
			res, err := http.Get(s.url + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become ready:\n%s", s.logs)
	return nil
}

// dataDirs holds each test's data directory, shared by every server the
// test starts (a restarted server, replicas) as a deployment would share it.
var dataDirs sync.Map

func dataDir(t *testing.T) string {
	dir, ok := dataDirs.Load(t)
	if !ok {
		dir, _ = dataDirs.LoadOrStore(t, t.TempDir())
		t.Cleanup(func() { dataDirs.Delete(t) })
	}
	return dir.(string)
}

func (s *server) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

func (s *server) call(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	err = json.NewDecoder(res.Body).Decode(&out)
	if err == io.EOF {
		err = nil
	}
	return res.StatusCode, out, err
}

// conversations makes n conversations of bot-1, one for each of the users
// u0, u1, ..., and returns their ids.
func (s *server) conversations(t *testing.T, n int) []string {
	t.Helper()
	convs := make([]string, n)
	for i := range convs {
		status, body, err := s.call("POST", "/api/conversations",
			map[string]any{"bot_id": "bot-1", "user_id": fmt.Sprintf("u%d", i), "create_user_if_not_exists": true})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		convs[i] = body["conversation"].(map[string]any)["id"].(string)
	}
	return convs
}

// stores runs fn with the environment for each store of the real binary.
func stores(t *testing.T, fn func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, []string{"PARLEY_DATA_DIR=" + t.TempDir(), "PARLEY_DATABASE_URL="})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, []string{"PARLEY_DATABASE_URL=" + pgtest.SchemaURL(t)})
	})
}

// TestKillNine appends from several clients, kills the server with SIGKILL
// in the middle, restarts it and checks that every acknowledged message is
// there, once, in a gap-free sequence.
func TestKillNine(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1"})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		status, body, err := s.call("POST", "/api/conversations",
			map[string]any{"bot_id": "bot-1", "user_id": "u", "create_user_if_not_exists": true})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		conv := body["conversation"].(map[string]any)["id"].(string)

		var acked sync.Map // text -> seq
		var count atomic.Int64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					text := fmt.Sprintf("w%d-%d", w, i)
					status, body, err := s.call("POST", "/api/conversations/"+conv+"/messages",
						map[string]any{"message": map[string]any{"text": text}})
					if err != nil {
						return // the server is gone
					}
					if status == 201 {
						acked.Store(text, body["message"].(map[string]any)["seq"].(float64))
						count.Add(1)
					}
				}
			}()
		}
		for count.Load() < 200 {
			time.Sleep(5 * time.Millisecond)
		}
		s.kill()
		wg.Wait()

		s = start(t, env...)
		stored := map[string]float64{}
		cursor := ""
		for {
			status, body, err := s.call("GET", "/api/conversations/"+conv+"/messages?limit=200&cursor="+cursor, nil)
			require.NoError(t, err)
			require.Equal(t, 200, status)
			for _, m := range body["messages"].([]any) {
				m := m.(map[string]any)
				_, dup := stored[m["text"].(string)]
				require.False(t, dup, "stored twice: %v", m["text"])
				stored[m["text"].(string)] = m["seq"].(float64)
				require.Equal(t, float64(len(stored)), m["seq"], "sequence numbers have no gaps")
			}
			if cursor = body["next_cursor"].(string); cursor == "" {
				break
			}
		}
		n := 0
		acked.Range(func(k, v any) bool {
			n++
			require.Equal(t, v, stored[k.(string)], "acknowledged message %v lost or moved", k)
			return true
		})
		require.GreaterOrEqual(t, n, 200)
		t.Logf("%d acknowledged, %d stored", n, len(stored))
	})
}

// TestSeedClient runs the seeds' JavaScript client code, unchanged, under
// Node against the real server.
func TestSeedClient(t *testing.T) {
	t.Parallel()
	node := tool(t, "node")
	// A media host on 127.0.0.2, the one private address the servers may
	// reach (PARLEY_EGRESS_PERMIT).
	ml, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	mediaHost := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/margherita-pizza.png":
			img := image.NewRGBA(image.Rect(0, 0, 4, 4))
			img.Set(1, 1, color.RGBA{200, 30, 30, 255})
			_ = png.Encode(w, img)
		case "/not-an-image.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, "<!DOCTYPE html><html>no</html>")
		default:
			http.NotFound(w, r)
		}
	}))
	mediaHost.Listener = ml
	mediaHost.Start()
	t.Cleanup(mediaHost.Close)
	stores(t, func(t *testing.T, env []string) {
		s := start(t, append(env, "PARLEY_EGRESS_PERMIT=127.0.0.2/32")...)
		status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-456", "name": "Seed bot"})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		cmd := exec.Command(node, "testdata/seed_client.mjs")
		cmd.Env = append(os.Environ(), "PARLEY_URL="+s.url, "PARLEY_TOKEN="+s.token, "MEDIA_URL="+mediaHost.URL)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "node:\n%s\nserver:\n%s", out, s.logs)
		sc := bufio.NewScanner(bytes.NewReader(out))
		var last string
		for sc.Scan() {
			last = sc.Text()
		}
		require.Equal(t, "seed client OK", strings.TrimSpace(last), string(out))
	})
}

// TestJSClient runs the JavaScript client's tests (clients/js, node's test
// runner) against the real server.
func TestJSClient(t *testing.T) {
	t.Parallel()
	node := tool(t, "node")
	s := start(t, "PARLEY_DATA_DIR="+t.TempDir(), "PARLEY_DATABASE_URL=")
	cmd := exec.Command(node, "--test", "test/")
	cmd.Dir = "../../clients/js"
	cmd.Env = append(os.Environ(), "PARLEY_URL="+s.url, "PARLEY_TOKEN="+s.token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node --test:\n%s\nserver:\n%s", out, s.logs)
	require.Contains(t, string(out), "# fail 0", string(out))
}

// TestModelConnectionsKept makes replies from many conversations at once,
// round after round, through the operator's model endpoint: the server
// keeps a connection to it for each completion made at once, so the later
// rounds dial (and, on TLS, handshake) no new ones.
func TestModelConnectionsKept(t *testing.T) {
	t.Parallel()
	model := llmtest.New(t)
	model.Always(llmtest.Step{Delay: 100 * time.Millisecond, Text: "Noted."})
	s := start(t, "PARLEY_DATA_DIR="+t.TempDir(), "PARLEY_DATABASE_URL=", "PARLEY_LLM_BASE_URL="+model.BaseURL(),
		"PARLEY_LLM_MODEL=m", "PARLEY_ALLOW_PRIVATE_NETWORKS=true")
	status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1", "reply": map[string]any{"debounce_ms": 0}})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	const at = 20
	convs := s.conversations(t, at)
	for round := range 3 {
		var wg sync.WaitGroup
		for _, conv := range convs {
			wg.Go(func() {
				status, body, err := s.call("POST", "/api/conversations/"+conv+"/messages?wait=30s",
					map[string]any{"message": map[string]any{"text": fmt.Sprintf("round %d", round)}})
				assert.NoError(t, err)
				assert.Equal(t, 201, status)
				assert.Equal(t, "replied", body["reply_status"])
			})
		}
		wg.Wait()
	}
	// Each round's completions overlap, so the first dials up to one
	// connection each; the next two reuse them (a few more may be dialled
	// for a completion that starts as another's connection comes free, or
	// for the memories' extraction, which asks the same model). Keeping
	// two idle, as http.DefaultClient does, dials about 60.
	require.LessOrEqual(t, model.Conns(), 2*at, "connections opened to the model over three rounds of %d", at)
}

// TestReplyCrash posts user messages to many conversations, kills the
// server with SIGKILL while their replies are queued or being made, restarts
// it, and checks that every stored user message is answered exactly once:
// the replies' answered ranges cover every user message and never overlap.
func TestReplyCrash(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, env []string) {
		env = append(env, "PARLEY_REPLY_TIMEOUT=1s")
		s := start(t, env...)
		status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1", "reply": map[string]any{"debounce_ms": 0}})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		convs := s.conversations(t, 20)
		var wg sync.WaitGroup
		for _, conv := range convs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					if _, _, err := s.call("POST", "/api/conversations/"+conv+"/messages",
						map[string]any{"message": map[string]any{"text": fmt.Sprintf("message %d", i)}}); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(150 * time.Millisecond)
		s.kill()
		wg.Wait()

		s = start(t, env...)
		check := func() error {
			for _, conv := range convs {
				status, body, err := s.call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
				if err != nil || status != 200 {
					return fmt.Errorf("history: %d %v", status, err)
				}
				covered := map[int64]int{}
				var users []int64
				for _, m := range body["messages"].([]any) {
					m := m.(map[string]any)
					seq := int64(m["seq"].(float64))
					if m["from_bot"] == false {
						users = append(users, seq)
						continue
					}
					r := m["metadata"].(map[string]any)["reply"].(map[string]any)["answers_seq"].([]any)
					for q := int64(r[0].(float64)); q <= int64(r[1].(float64)); q++ {
						covered[q]++
					}
				}
				for _, u := range users {
					if covered[u] != 1 {
						return fmt.Errorf("conversation %s: message %d answered %d times", conv, u, covered[u])
					}
				}
			}
			return nil
		}
		settles(t, s, 240*time.Second, check) // and nothing is answered twice later either
	})
}

// settles waits until check passes, within the time given, and checks
// again a second later: what the server does after its restart holds, and
// goes no further.
func settles(t *testing.T, s *server, within time.Duration, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = check(); err == nil {
			break
		}
	}
	require.NoError(t, err, "server logs:\n%s", s.logs)
	time.Sleep(time.Second)
	require.NoError(t, check(), "a second later")
}

// TestMemoryCrash: users tell their name, city and dog while the server is
// killed with SIGKILL (their memory jobs queued or running); after the
// restart every told fact is a memory once, confirmed once: a job redone
// after the crash stores nothing twice, and none is lost.
func TestMemoryCrash(t *testing.T) {
	t.Parallel()
	names := []string{"Ana", "Luis", "Marta", "Pedro", "Elena", "Jorge", "Sofia", "Pablo", "Clara", "Diego"}
	cities := []string{"Madrid", "Lisbon", "Paris", "Berlin", "Rome", "Vienna", "Prague", "Dublin", "Oslo", "Warsaw"}
	stores(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1", "reply": map[string]any{"debounce_ms": 0}})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		convs := s.conversations(t, len(names))
		// The facts of each conversation whose message was acknowledged.
		told := make([]map[string]string, len(convs)) // key: text
		var acked atomic.Int32
		var wg sync.WaitGroup
		for i, conv := range convs {
			told[i] = map[string]string{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, f := range [][3]string{
					{"My name is " + names[i] + ".", "name", "Name: " + names[i]},
					{"I live in " + cities[i] + ".", "place:home", "Lives in " + cities[i]},
					{"I have a dog named Rex" + names[i] + ".", "pet:dog", "Pet dog: Rex" + names[i]},
				} {
					status, _, err := s.call("POST", "/api/conversations/"+conv+"/messages",
						map[string]any{"message": map[string]any{"text": f[0]}})
					if err != nil || status != 201 {
						return
					}
					told[i][f[1]] = f[2]
					acked.Add(1)
				}
			}()
		}
		// Killed when a third of the facts were told: their jobs queued or
		// running, the rest on their way.
		require.Eventually(t, func() bool { return acked.Load() >= int32(len(convs)) }, 30*time.Second, time.Millisecond)
		s.kill()
		wg.Wait()

		s = start(t, env...)
		check := func() error {
			for i, conv := range convs {
				status, body, err := s.call("GET", "/api/conversations/"+conv+"/memories?limit=50", nil)
				if err != nil || status != 200 {
					return fmt.Errorf("memories: %d %v", status, err)
				}
				got := map[string]map[string]any{}
				for _, m := range body["memories"].([]any) {
					m := m.(map[string]any)
					key := m["key"].(string)
					if got[key] != nil {
						return fmt.Errorf("conversation %d: memory %q twice", i, key)
					}
					got[key] = m
				}
				for key, text := range told[i] {
					m := got[key]
					if m == nil {
						return fmt.Errorf("conversation %d: no memory %q yet", i, key)
					}
					if m["text"] != text || m["confirmations"] != float64(1) {
						return fmt.Errorf("conversation %d: memory %q is %v, confirmed %v times", i, key, m["text"], m["confirmations"])
					}
				}
			}
			return nil
		}
		// An extraction that was running when the server died is tried
		// again once its timeout (a minute) has passed, at the rescuer's
		// next look (every 30 s); nothing is confirmed again later either.
		settles(t, s, 150*time.Second, check)
	})
}

// hookReceiver is an integrator's endpoint on loopback that can be down.
type hookReceiver struct {
	*httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	byID map[string][]string // webhook-id -> bodies received
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{byID: map[string][]string{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.byID[r.Header.Get("webhook-id")] = append(h.byID[r.Header.Get("webhook-id")], string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

// replyDeliveries maps each delivered bot reply (message id) to the
// webhook-ids it came under.
func (h *hookReceiver) replyDeliveries(t *testing.T) map[string]map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]map[string]bool{}
	for id, bodies := range h.byID {
		for _, b := range bodies {
			var p struct {
				Type string `json:"type"`
				Data struct {
					Message struct {
						ID      string `json:"id"`
						FromBot bool   `json:"from_bot"`
					} `json:"message"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal([]byte(b), &p))
			if p.Type == "message.created" && p.Data.Message.FromBot {
				if out[p.Data.Message.ID] == nil {
					out[p.Data.Message.ID] = map[string]bool{}
				}
				out[p.Data.Message.ID][id] = true
			}
		}
	}
	return out
}

// deliveryScenario: replies are made while the receiver is down, a replica
// is killed with SIGKILL and restarted, the receiver comes back; every bot
// reply must then be delivered at least once, each under one webhook-id.
func deliveryScenario(t *testing.T, replicas int, env []string) {
	recv := newHookReceiver(t)
	recv.down.Store(true)
	env = append(env, "PARLEY_ALLOW_PRIVATE_NETWORKS=true", "PARLEY_WEBHOOK_RETRY_SCHEDULE=1s,2s,3s")
	servers := make([]*server, replicas)
	for i := range servers {
		servers[i] = start(t, env...)
	}
	s := servers[0]
	status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-1", "webhook": recv.URL + "/hook",
		"reply": map[string]any{"debounce_ms": 0}})
	require.NoError(t, err)
	require.Equal(t, 201, status)
	var convs []string
	for i := range 10 {
		srv := servers[i%replicas]
		status, body, err := srv.call("POST", "/api/conversations",
			map[string]any{"bot_id": "bot-1", "user_id": fmt.Sprintf("u%d", i), "create_user_if_not_exists": true})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		convs = append(convs, body["conversation"].(map[string]any)["id"].(string))
	}
	if replicas > 1 {
		// A stream on one replica follows a reply made through another.
		events, cancel := sseLines(t, servers[1], convs[0])
		defer cancel()
		status, _, err := servers[0].call("POST", "/api/conversations/"+convs[0]+"/messages",
			map[string]any{"message": map[string]any{"text": "across replicas"}})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		waitLine(t, events, "across replicas")
	}
	for i, conv := range convs {
		for j := range 2 {
			status, _, err := servers[(i+j)%replicas].call("POST", "/api/conversations/"+conv+"/messages?wait=10s",
				map[string]any{"message": map[string]any{"text": fmt.Sprintf("question %d", j)}})
			require.NoError(t, err)
			require.Equal(t, 201, status)
		}
	}
	servers[0].kill()
	recv.down.Store(false)
	servers[0] = start(t, env...)

	// Every bot reply in the store, through the API.
	replies := map[string]bool{}
	for _, conv := range convs {
		status, body, err := servers[0].call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		for _, m := range body["messages"].([]any) {
			if m := m.(map[string]any); m["from_bot"] == true {
				replies[m["id"].(string)] = true
			}
		}
	}
	require.GreaterOrEqual(t, len(replies), 20)
	require.Eventually(t, func() bool {
		got := recv.replyDeliveries(t)
		for id := range replies {
			if len(got[id]) == 0 {
				return false
			}
		}
		return true
	}, 240*time.Second, 100*time.Millisecond, "every reply delivered at least once (an attempt cut by the kill waits for River's rescuer)")
	seen := map[string]string{}
	for msg, ids := range recv.replyDeliveries(t) {
		require.Len(t, ids, 1, "one webhook-id per reply")
		for id := range ids {
			require.Empty(t, seen[id], "one reply per webhook-id")
			seen[id] = msg
		}
	}
}

// sseLines follows a conversation's event stream on a server.
func sseLines(t *testing.T, s *server, conv string) (<-chan string, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/conversations/"+conv+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	lines := make(chan string, 1000)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines, cancel
}

func waitLine(t *testing.T, lines <-chan string, substr string) {
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "stream ended")
			if strings.Contains(l, substr) && strings.Contains(l, `"from_bot":true`) {
				return
			}
		case <-deadline:
			t.Fatalf("no event with %q", substr)
		}
	}
}

func TestDeliveryCrash(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, env []string) { deliveryScenario(t, 1, env) })
}

func TestDeliveryTwoReplicas(t *testing.T) {
	t.Parallel()
	deliveryScenario(t, 2, []string{"PARLEY_DATABASE_URL=" + pgtest.SchemaURL(t)})
}

// TestV1 drives /v2/complete through the real binary: history reconciled,
// retries answered with the same reply and nothing stored twice, divergence
// reported, the conversation continued through V3, bad input refused.
func TestV1(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		status, _, err := s.call("POST", "/api/bots", map[string]any{"id": "bot-456", "reply": map[string]any{"debounce_ms": 0}})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		// Fields V1 does not know (here client_version, sent_at) are ignored.
		history := []any{map[string]any{"bot": true, "content": []string{"Hi there!"}, "sent_at": 1}, map[string]any{"bot": false, "content": []string{"Hey"}}}
		body := map[string]any{"conversation_id": "chat-123", "bot_id": "bot-456", "user_id": "user-789", "message": "Hello",
			"messages": history, "language": "es", "platform": "Qkkie", "user_kv_pairs": map[string]any{"plan": "gold"},
			"client_version": "1.4"}
		status, first, err := s.call("POST", "/v2/complete", body)
		require.NoError(t, err)
		require.Equal(t, 200, status, first)
		require.Equal(t, true, first["bot"])
		require.Equal(t, "appended", first["history"].(map[string]any)["status"])
		conv := first["conversation_id"].(string)

		status, again, err := s.call("POST", "/v2/complete", body)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		require.Equal(t, first["reply_message_id"], again["reply_message_id"], "a retry answers the same reply")
		require.Equal(t, first["content"], again["content"])

		msgs := func() []any {
			status, page, err := s.call("GET", "/api/conversations/"+conv+"/messages?limit=200", nil)
			require.NoError(t, err)
			require.Equal(t, 200, status)
			return page["messages"].([]any)
		}
		require.Len(t, msgs(), 4, "history, message and reply, stored once")
		require.NotContains(t, msgs()[3].(map[string]any)["text"], "Hey", "history items are not answered again")

		// Next turn: the client sends the reply back as history.
		next := map[string]any{"conversation_id": "chat-123", "bot_id": "bot-456", "user_id": "user-789", "message": "Thanks",
			"messages": append(history, map[string]any{"bot": false, "content": []string{"Hello"}},
				map[string]any{"bot": true, "content": first["content"]})}
		status, turn2, err := s.call("POST", "/v2/complete", next)
		require.NoError(t, err)
		require.Equal(t, 200, status, turn2)
		require.Equal(t, "in_sync", turn2["history"].(map[string]any)["status"])
		require.Len(t, msgs(), 6)

		// An edited history: reported, nothing stored rewritten.
		edited := map[string]any{"conversation_id": "chat-123", "bot_id": "bot-456", "user_id": "user-789", "message": "Again",
			"messages": []any{map[string]any{"bot": true, "content": []string{"Hello, edited"}}}}
		status, div, err := s.call("POST", "/v2/complete", edited)
		require.NoError(t, err)
		require.Equal(t, 200, status, div)
		h := div["history"].(map[string]any)
		require.Equal(t, "diverged", h["status"])
		require.Equal(t, float64(0), h["diverged_at"])
		all := msgs()
		require.Len(t, all, 8)
		require.Equal(t, "Hi there!", all[0].(map[string]any)["text"], "stored history untouched")

		// The V1 conversation continues with V3 calls, and a V3 id drives V1.
		status, v3, err := s.call("POST", "/api/conversations/"+conv+"/messages?wait=10s", map[string]any{"message": map[string]any{"text": "via V3"}})
		require.NoError(t, err)
		require.Equal(t, 201, status)
		require.Equal(t, "replied", v3["reply_status"])
		status, byID, err := s.call("POST", "/v2/complete", map[string]any{"conversation_id": conv, "bot_id": "bot-456",
			"user_id": "user-789", "message": "by id", "messages": []any{}})
		require.NoError(t, err)
		require.Equal(t, 200, status, byID)
		require.Equal(t, conv, byID["conversation_id"])

		status, user, err := s.call("GET", "/api/users/user-789", nil)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		require.Equal(t, map[string]any{"plan": "gold"}, user["kv"])
		require.Equal(t, "Qkkie", user["platform"])

		count := len(msgs())
		for _, bad := range []map[string]any{
			{"bot_id": "bot-456", "user_id": "u", "message": "x"},                                           // no conversation_id
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": ""},                    // empty message
			{"conversation_id": "c", "bot_id": "nope", "user_id": "u", "message": "x"},                      // unknown bot
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": "x", "messages": "no"}, // malformed history
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": "x",
				"messages": []any{map[string]any{"bot": true, "content": []any{7}}}}, // a bubble that is not a string
			{"conversation_id": "chat-123", "bot_id": "bot-456", "user_id": "someone-else", "message": "x"}, // another user's conversation
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": "x",
				"messages": []any{map[string]any{"bot": true, "content": slices.Repeat([]string{"b"}, 51)}}}, // too many bubbles
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": strings.Repeat("é", 32001)}, // oversize message
			{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u", "message": "x", "language": strings.Repeat("x", 36)},
		} {
			status, problem, err := s.call("POST", "/v2/complete", bad)
			require.NoError(t, err)
			require.True(t, status >= 400 && status < 500, "%v -> %d %v", bad, status, problem)
			require.NotEmpty(t, problem["errors"], "the problem names the field")
		}
		// Limits name the field.
		_, problem, err := s.call("POST", "/v2/complete", map[string]any{"conversation_id": "c", "bot_id": "bot-456", "user_id": "u",
			"message": "x", "messages": []any{map[string]any{"bot": false, "content": []string{"hi"}}, map[string]any{"bot": true, "content": make([]string, 51)}}})
		require.NoError(t, err)
		require.Equal(t, "body.messages[1].content", problem["errors"].([]any)[0].(map[string]any)["location"], problem)
		require.Len(t, msgs(), count, "bad calls store nothing")
	})
}

// TestFirstRun: a server started on an empty data directory with no
// bootstrap token makes an admin token, prints it once, and never again.
func TestFirstRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := start(t, "PARLEY_DATA_DIR="+dir, "PARLEY_BOOTSTRAP_TOKEN=")
	var token string
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if strings.HasPrefix(line, "    prly_") {
				token = strings.TrimSpace(line)
			}
		}
		return token != ""
	}, 10*time.Second, 20*time.Millisecond, "the token is printed:\n%s", s.logs)
	require.Contains(t, s.logs.String(), "parley token create --admin", "with how to make more")
	s.token = token
	status, _, err := s.call("GET", "/api/bots", nil)
	require.NoError(t, err)
	require.Equal(t, 200, status, "the printed token is an admin's")

	// The CLI manages bots through the running server with that token.
	out, err := exec.Command(binary(t), "bot", "create", "--url", s.url, "--token", token, "--id", "remote-bot", "--name", "Remote").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"id":"remote-bot"`)
	out, err = exec.Command(binary(t), "bot", "create", "--url", s.url, "--token", token, "--id", "remote-bot").CombinedOutput()
	require.Error(t, err, "an existing id is refused")
	require.Contains(t, string(out), "409", "%s", out)
	out, err = exec.Command(binary(t), "bot", "list", "--url", s.url, "--token", token).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"name":"Remote"`)
	cmd := exec.Command(binary(t), "bot", "list", "--url", s.url)
	cmd.Env = append(os.Environ(), "PARLEY_TOKEN=")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "needs a token")
	s.kill()

	again := start(t, "PARLEY_DATA_DIR="+dir, "PARLEY_BOOTSTRAP_TOKEN=")
	again.token = token
	status, _, err = again.call("GET", "/api/bots", nil)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.NotContains(t, again.logs.String(), "First start", "never printed again")
	require.NotContains(t, again.logs.String(), token)
}

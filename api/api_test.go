package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

const testModelID = "tiny-llama"

// newTestServer loads a tiny random-weight llama (real safetensors, the real
// Llama 2 tokenizer and chat template) and serves it.
func newTestServer(t *testing.T, configure func(*Server, *engine.Options)) (*httptest.Server, *Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), testModelID)
	if err := testmodel.WriteChat(dir, testmodel.Tiny("llama", "f32", 0)); err != nil {
		t.Skipf("cannot write the test model (needs ../shared/testdata): %v", err)
	}
	opts := engine.Options{Backend: "cpu", Threads: 2}
	srv := &Server{Models: func() []registry.Entry { return []registry.Entry{{ID: testModelID, Path: dir}} }}
	if configure != nil {
		configure(srv, &opts)
	}
	eng, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if _, err := eng.Load(context.Background(), dir, nil); err != nil {
		t.Fatal(err)
	}
	srv.Engine = eng
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs, srv
}

func post(t *testing.T, url, body string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %q", resp.StatusCode, data)
	}
	return resp, out
}

// errorOf checks an OpenAI-shaped error and returns it.
func errorOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error lacks %q: %v", k, e)
		}
	}
	return e
}

func TestChatCompletionAndStreamAgree(t *testing.T) {
	hs, _ := newTestServer(t, nil)
	body := `{"model":"` + testModelID + `","messages":[{"role":"user","content":"Hi there"}],"max_tokens":16,"seed":3,"temperature":0.9}`
	resp, full := post(t, hs.URL+"/v1/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, full)
	}
	choice := full["choices"].([]any)[0].(map[string]any)
	text := choice["message"].(map[string]any)["content"].(string)
	if full["object"] != "chat.completion" || text == "" {
		t.Fatalf("unexpected completion %v", full)
	}

	req, _ := http.NewRequest("POST", hs.URL+"/v1/chat/completions",
		strings.NewReader(strings.TrimSuffix(body, "}")+`,"stream":true,"stream_options":{"include_usage":true}}`))
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	if ct := sresp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var streamed strings.Builder
	sawDone, sawUsage, finish := false, false, ""
	sc := bufio.NewScanner(sresp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			sawDone = true
			continue
		}
		var chunk chatChunk
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("bad chunk %q: %v", data, err)
		}
		if chunk.Usage != nil {
			sawUsage = true
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != nil {
				streamed.WriteString(*c.Delta.Content)
			}
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	if streamed.String() != text {
		t.Fatalf("stream %q != full %q", streamed.String(), text)
	}
	if !sawDone || !sawUsage || finish != choice["finish_reason"] {
		t.Fatalf("done %v usage %v finish %q", sawDone, sawUsage, finish)
	}
}

func TestBadRequestsGetOpenAIErrors(t *testing.T) {
	hs, _ := newTestServer(t, nil)
	cases := []struct {
		body, param string
		status      int
	}{
		{`{"messages":[`, "", 400},
		{``, "", 400},
		{`{"messages":[]}`, "messages", 400},
		{`{"messages":[{"role":"wizard","content":"x"}]}`, "messages[0]", 400},
		{`{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature", 400},
		{`{"messages":[{"role":"user","content":"x"}],"temperature":3}`, "temperature", 400},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens", 400},
		{`{"messages":[{"role":"user","content":"x"}],"n":2}`, "n", 400},
		{`{"messages":[{"role":"user","content":"x"}],"stop":42}`, "stop", 400},
		{`{"messages":[{"role":"user","content":"x"}],"model":"no-such-model"}`, "model", 404},
		{`{"messages":[{"role":"user","content":"` + strings.Repeat("word ", 600) + `"}],"max_tokens":8}`, "messages", 400},
	}
	for _, c := range cases {
		resp, body := post(t, hs.URL+"/v1/chat/completions", c.body)
		if resp.StatusCode != c.status {
			t.Errorf("%.60s: status %d, want %d (%v)", c.body, resp.StatusCode, c.status, body)
			continue
		}
		e := errorOf(t, body)
		if c.param != "" && e["param"] != c.param {
			t.Errorf("%.60s: param %v, want %q (%v)", c.body, e["param"], c.param, e["message"])
		}
	}
	// The server still serves after all that.
	resp, body := post(t, hs.URL+"/v1/completions", `{"prompt":"The sea","max_tokens":4}`)
	if resp.StatusCode != 200 || body["object"] != "text_completion" {
		t.Fatalf("after bad requests: %d %v", resp.StatusCode, body)
	}
	r, _ := http.Get(hs.URL + "/v1/nope")
	if r.StatusCode != 404 {
		t.Fatalf("unknown endpoint: %d", r.StatusCode)
	}
}

func TestAPIKeyAndCORS(t *testing.T) {
	hs, _ := newTestServer(t, func(s *Server, _ *engine.Options) {
		s.APIKey = "sekret"
		s.CORSOrigins = []string{"http://app.example"}
	})
	resp, body := post(t, hs.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 401 || errorOf(t, body)["code"] != "invalid_api_key" {
		t.Fatalf("no key: %d %v", resp.StatusCode, body)
	}
	resp, _ = post(t, hs.URL+"/v1/completions", `{"prompt":"x","max_tokens":2}`, "Authorization", "Bearer sekret", "Origin", "http://app.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Fatalf("with key: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req, _ := http.NewRequest("OPTIONS", hs.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "http://evil.example")
	r, _ := http.DefaultClient.Do(req)
	if r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r, _ := http.Get(hs.URL + "/health"); r.StatusCode != 200 {
		t.Fatalf("health needs no key, got %d", r.StatusCode)
	}
}

func TestQueueLimitAnswers429(t *testing.T) {
	hs, _ := newTestServer(t, func(_ *Server, o *engine.Options) { o.MaxQueue = 1 })
	// One request runs, one waits; the rest must be refused at once.
	long := `{"prompt":"Once","max_tokens":300,"temperature":0}`
	var wg sync.WaitGroup
	statuses := make(chan int, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := post(t, hs.URL+"/v1/completions", long)
			statuses <- resp.StatusCode
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[429] == 0 || count[200] < 2 || count[200]+count[429] != 6 {
		t.Fatalf("statuses %v: want two served and the rest 429", count)
	}
}

func TestClientDisconnectCancelsGeneration(t *testing.T) {
	hs, srv := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/completions",
		strings.NewReader(`{"prompt":"Once","max_tokens":400,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	br.ReadString('\n') // the first chunk arrived: generation is running
	cancel()
	resp.Body.Close()
	// The model must be free for the next request well before 400 tokens.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Engine.Queued() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	r, body := post(t, hs.URL+"/v1/completions", `{"prompt":"x","max_tokens":1}`)
	if r.StatusCode != 200 {
		t.Fatalf("after disconnect: %d %v", r.StatusCode, body)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("the next request waited %v: the abandoned generation kept running", waited)
	}
}

// TestOfficialOpenAIClient runs the `openai` npm package against the server.
func TestOfficialOpenAIClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	npmDir, _ := filepath.Abs("../testdata/npm")
	if _, err := os.Stat(filepath.Join(npmDir, "node_modules", "openai")); err != nil {
		t.Skipf("the openai npm package is not installed: run (cd testdata/npm && npm ci)")
	}
	hs, _ := newTestServer(t, func(s *Server, _ *engine.Options) { s.APIKey = "test-key" })
	cmd := exec.Command(node, filepath.Join(npmDir, "openai_client.mjs"))
	cmd.Env = append(os.Environ(), "IMPETUS_URL="+hs.URL+"/v1", "IMPETUS_KEY=test-key", "IMPETUS_MODEL="+testModelID)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openai client: %v\n%s", err, out)
	}
	var seen struct {
		Text, Streamed        string
		BadStatus, AuthStatus int
	}
	if err := json.Unmarshal(out[strings.LastIndexByte(strings.TrimSpace(string(out)), '\n')+1:], &seen); err != nil {
		t.Fatalf("client output: %s", out)
	}
	if seen.Text == "" || seen.Text != seen.Streamed || seen.BadStatus != 400 || seen.AuthStatus != 401 {
		t.Fatalf("client saw %+v", seen)
	}
}

func TestDefaultMaxTokensFitsTheContext(t *testing.T) {
	// The server's default (e.g. config max_tokens = 2048) exceeds the test
	// model's 512-token context: requests that set no max_tokens still work.
	hs, _ := newTestServer(t, func(s *Server, _ *engine.Options) { s.DefaultMaxTokens = 4096 })
	resp, body := post(t, hs.URL+"/v1/completions", `{"prompt":"Once upon a time","temperature":0,"stop":["\n"]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, body)
	}
	// An explicit limit that cannot fit is the client's error.
	resp, body = post(t, hs.URL+"/v1/completions", `{"prompt":"Once","max_tokens":4096}`)
	if resp.StatusCode != 400 || errorOf(t, body)["code"] != "context_length_exceeded" {
		t.Fatalf("explicit overflow: %d %v", resp.StatusCode, body)
	}
}

func TestLogprobs(t *testing.T) {
	hs, _ := newTestServer(t, nil)
	body := `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"temperature":0,"logprobs":true,"top_logprobs":3}`
	resp, full := post(t, hs.URL+"/v1/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, full)
	}
	choice := full["choices"].([]any)[0].(map[string]any)
	content := choice["logprobs"].(map[string]any)["content"].([]any)
	usage := full["usage"].(map[string]any)
	if len(content) != int(usage["completion_tokens"].(float64)) {
		t.Fatalf("%d logprobs for %v tokens", len(content), usage["completion_tokens"])
	}
	var joined strings.Builder
	for _, c := range content {
		e := c.(map[string]any)
		lp := e["logprob"].(float64)
		top := e["top_logprobs"].([]any)
		if lp > 0 || len(top) != 3 {
			t.Fatalf("entry %v", e)
		}
		// Greedy: the chosen token is the most likely one.
		if best := top[0].(map[string]any)["logprob"].(float64); best > lp+1e-5 {
			t.Fatalf("greedy token logprob %g below the best alternative %g", lp, best)
		}
		joined.WriteString(e["token"].(string))
	}
	// The tokens' texts join into the reply (max_tokens ended it: no EOS or
	// stop string left out).
	text := choice["message"].(map[string]any)["content"].(string)
	if choice["finish_reason"] != "length" || joined.String() != text {
		t.Fatalf("finish %v: token texts join to %q, the reply is %q", choice["finish_reason"], joined.String(), text)
	}
	// Streamed, each chunk carries its tokens' logprobs: all of them, in order.
	req, _ := http.NewRequest("POST", hs.URL+"/v1/chat/completions", strings.NewReader(strings.TrimSuffix(body, "}")+`,"stream":true}`))
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	var streamedTokens strings.Builder
	sc := bufio.NewScanner(sresp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Logprobs *chatLogprobs `json:"logprobs"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatal(err)
		}
		for _, c := range chunk.Choices {
			if c.Logprobs != nil {
				for _, e := range c.Logprobs.Content {
					streamedTokens.WriteString(e.Token)
				}
			}
		}
	}
	if streamedTokens.String() != text {
		t.Fatalf("streamed logprob tokens join to %q, want %q", streamedTokens.String(), text)
	}
	// top_logprobs without logprobs, and out of range, are the client's errors.
	for _, b := range []string{
		`{"messages":[{"role":"user","content":"Hi"}],"top_logprobs":2}`,
		`{"messages":[{"role":"user","content":"Hi"}],"logprobs":true,"top_logprobs":21}`,
		`{"prompt":"Hi","logprobs":99}`,
	} {
		url := hs.URL + "/v1/chat/completions"
		if strings.Contains(b, `"prompt"`) {
			url = hs.URL + "/v1/completions"
		}
		if resp, body := post(t, url, b); resp.StatusCode != 400 {
			t.Fatalf("%s: %d %v", b, resp.StatusCode, body)
		}
	}
	// Legacy completions: parallel arrays with text offsets.
	resp, comp := post(t, hs.URL+"/v1/completions", `{"prompt":"Once upon","max_tokens":5,"temperature":0,"logprobs":2}`)
	if resp.StatusCode != 200 {
		t.Fatalf("completions: %d %v", resp.StatusCode, comp)
	}
	lp := comp["choices"].([]any)[0].(map[string]any)["logprobs"].(map[string]any)
	tokens, offs := lp["tokens"].([]any), lp["text_offset"].([]any)
	if len(tokens) == 0 || len(tokens) != len(offs) || len(lp["top_logprobs"].([]any)) != len(tokens) || offs[0].(float64) != 0 {
		t.Fatalf("legacy logprobs %v", lp)
	}
}

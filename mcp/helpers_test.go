package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/engine/testmodel"
	"github.com/impetus-llm/impetus/store"
)

// fixture is a real server: a tiny random-weight llama (real safetensors,
// the Llama 2 tokenizer and chat template) on the CPU engine, and a fresh
// history database.
type fixture struct {
	srv   *Server
	st    *store.Store
	eng   *engine.Engine
	model string
}

// newFixture builds the server; the model's context is 2048 tokens so a
// generation lasts long enough to be cancelled midway.
func newFixture(t testing.TB, configure ...func(*Options)) *fixture {
	t.Helper()
	return newFixtureContext(t, 2048, configure...)
}

// newFixtureContext is newFixture with a model of the given context length.
func newFixtureContext(t testing.TB, positions int, configure ...func(*Options)) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-llama")
	spec := testmodel.Tiny("llama", "f32", 0)
	spec.MaxPositions = positions
	if err := testmodel.WriteChat(dir, spec); err != nil {
		t.Skipf("cannot write the test model (needs ../shared/testdata): %v", err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "impetus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := engine.New(engine.Options{Backend: "cpu", Threads: 2, DefaultModel: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	opts := Options{
		Engine: eng, Store: st, DefaultModel: dir, MaxTokens: 4096, Version: "test",
		Models: func() ([]registry.Entry, []error) {
			return []registry.Entry{{ID: "tiny-llama", Source: registry.SourceModelsDir, Path: dir, Architecture: "llama", ContextLength: positions}}, nil
		},
		ProgressInterval: time.Millisecond,
	}
	for _, c := range configure {
		c(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, st: st, eng: eng, model: dir}
}

// lineLog records every line the server wrote to its stdout.
type lineLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.buf.Next(i+1)))
	}
	return len(p), nil
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// assertJSONRPC fails unless every line is one JSON-RPC 2.0 message.
func assertJSONRPC(t *testing.T, lines []string) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("the server wrote nothing")
	}
	for i, line := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %d is not JSON: %q", i+1, line)
		}
		if string(m["jsonrpc"]) != `"2.0"` {
			t.Fatalf("stdout line %d is not JSON-RPC 2.0: %q", i+1, line)
		}
		_, isReq := m["method"]
		_, isRes := m["result"]
		_, isErr := m["error"]
		if !isReq && !isRes && !isErr {
			t.Fatalf("stdout line %d is neither a request, a notification nor a response: %q", i+1, line)
		}
	}
}

// stdioClient runs ServeStdio on pipes and connects mcp-go's client to it.
func (f *fixture) stdioClient(t testing.TB, opts ...client.ClientOption) (*client.Client, *lineLog) {
	t.Helper()
	clientIn, serverOut := io.Pipe()
	serverIn, clientOut := io.Pipe()
	log := &lineLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.srv.ServeStdio(ctx, serverIn, io.MultiWriter(serverOut, log))
		serverOut.Close()
	}()
	c := client.NewClient(transport.NewIO(clientIn, clientOut, io.NopCloser(strings.NewReader(""))), opts...)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		clientOut.Close() // stdin ends: the server returns
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeStdio: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeStdio did not return after stdin closed")
		}
		cancel()
		c.Close()
	})
	return c, log
}

func initialize(t *testing.T, c *client.Client) *mcpgo.InitializeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "impetus-test", Version: "1"}
	res, err := c.Initialize(ctx, req)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res
}

// call runs a tool and returns its result and its structured content as a
// generic JSON object.
func call(t *testing.T, c *client.Client, name string, args map[string]any) (*mcpgo.CallToolResult, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s(%v): %v", name, args, err)
	}
	return res, structuredOf(t, res)
}

func structuredOf(t *testing.T, res *mcpgo.CallToolResult) map[string]any {
	t.Helper()
	if res.StructuredContent == nil {
		return nil
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func textOf(t *testing.T, res *mcpgo.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("want one content block, got %d: %+v", len(res.Content), res.Content)
	}
	tc, ok := res.Content[0].(mcpgo.TextContent)
	if !ok {
		t.Fatalf("content is %T, want text", res.Content[0])
	}
	return tc.Text
}

// progressLog collects the progress notifications of one token.
type progressLog struct {
	mu      sync.Mutex
	message strings.Builder
	values  []float64
	first   chan struct{}
	once    sync.Once
}

func newProgressLog(c *client.Client, token string) *progressLog {
	p := &progressLog{first: make(chan struct{})}
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method != string(mcpgo.MethodNotificationProgress) || n.Params.AdditionalFields["progressToken"] != token {
			return
		}
		p.mu.Lock()
		if m, ok := n.Params.AdditionalFields["message"].(string); ok {
			p.message.WriteString(m)
		}
		if v, ok := n.Params.AdditionalFields["progress"].(float64); ok {
			p.values = append(p.values, v)
		}
		p.mu.Unlock()
		p.once.Do(func() { close(p.first) })
	})
	return p
}

func (p *progressLog) snapshot() (string, []float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.message.String(), append([]float64(nil), p.values...)
}

// lineScanner reads a raw stdio server's lines.
func lineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return sc
}

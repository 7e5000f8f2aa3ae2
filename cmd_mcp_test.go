package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/engine/testmodel"
)

// mcpTestModel writes a tiny random llama with the Llama 2 chat template
// (2048 positions, so a generation lasts long enough to cancel).
func mcpTestModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-llama")
	spec := testmodel.Tiny("llama", "f32", 0)
	spec.MaxPositions = 2048
	if err := testmodel.WriteChat(dir, spec); err != nil {
		t.Skipf("cannot write the test model (needs ../shared/testdata): %v", err)
	}
	return dir
}

// mcpEnv is the environment of a spawned `impetus mcp`: this process's,
// with an isolated config and history (later entries win).
func mcpEnv(t *testing.T) []string {
	dir := t.TempDir()
	return append(os.Environ(),
		"IMPETUS_CONFIG="+filepath.Join(dir, "config.toml"),
		"IMPETUS_DB="+filepath.Join(dir, "impetus.db"))
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMCPBinaryWithMCPGoClient spawns the built binary and drives it with
// mcp-go's stdio client: initialize, tools/list, every tool, resources,
// prompts, progress and cancellation. Every line the server writes to
// stdout must be JSON-RPC.
func TestMCPBinaryWithMCPGoClient(t *testing.T) {
	model := mcpTestModel(t)
	bin := buildImpetus(t)
	env := mcpEnv(t)

	var stderr syncBuffer
	tr := transport.NewStdioWithOptions(bin, env, []string{"mcp", "-m", model},
		transport.WithCommandStderrWriter(&stderr))
	c := client.NewClient(tr, client.WithLegacyProtocolOnly())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	init := mcpgo.InitializeRequest{}
	init.Params.ClientInfo = mcpgo.Implementation{Name: "impetus-test", Version: "1"}
	res, err := c.Initialize(ctx, init)
	if err != nil || res.ServerInfo.Name != "impetus" || res.Instructions == "" {
		t.Fatalf("initialize: %v %+v", err, res)
	}
	tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "export_conversation generate get_conversation list_conversations list_models search_conversations" {
		t.Fatalf("tools %v", names)
	}

	callTool := func(ctx context.Context, name string, args map[string]any, progressToken any) (*mcpgo.CallToolResult, map[string]any, error) {
		req := mcpgo.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		if progressToken != nil {
			req.Params.Meta = &mcpgo.Meta{ProgressToken: progressToken}
		}
		r, err := c.CallTool(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		var m map[string]any
		b, _ := json.Marshal(r.StructuredContent)
		json.Unmarshal(b, &m)
		return r, m, nil
	}

	// generate with progress, saved.
	var mu sync.Mutex
	var streamed strings.Builder
	var first = make(chan struct{})
	var once sync.Once
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method != "notifications/progress" {
			return
		}
		mu.Lock()
		if n.Params.AdditionalFields["progressToken"] == "p1" {
			if m, ok := n.Params.AdditionalFields["message"].(string); ok {
				streamed.WriteString(m)
			}
		}
		mu.Unlock()
		if n.Params.AdditionalFields["progressToken"] == "p2" {
			once.Do(func() { close(first) })
		}
	})
	r, gen, err := callTool(ctx, "generate", map[string]any{"prompt": "Tell me about the sea", "max_tokens": 16, "save": true}, "p1")
	if err != nil || r.IsError {
		t.Fatalf("generate: %v %+v", err, r)
	}
	mu.Lock()
	if streamed.String() != gen["text"] {
		t.Errorf("progress %q != text %q", streamed.String(), gen["text"])
	}
	mu.Unlock()
	convID, _ := gen["conversation_id"].(string)
	if convID == "" {
		t.Fatalf("generate save: %v", gen)
	}

	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"list_models", map[string]any{}, model},
		{"search_conversations", map[string]any{"query": "sea"}, convID},
		{"list_conversations", map[string]any{"limit": 5}, convID},
		{"get_conversation", map[string]any{"id": convID}, "Tell me about the sea"},
		{"export_conversation", map[string]any{"id": convID, "format": "md"}, "Tell me about the sea"},
	} {
		r, _, err := callTool(ctx, tc.name, tc.args, nil)
		if err != nil || r.IsError {
			t.Fatalf("%s: %v %+v", tc.name, err, r)
		}
		if text := r.Content[0].(mcpgo.TextContent).Text; !strings.Contains(text, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.name, text, tc.want)
		}
	}

	// Resources and prompts.
	rr := mcpgo.ReadResourceRequest{}
	rr.Params.URI = "impetus://conversations/" + convID
	if res, err := c.ReadResource(ctx, rr); err != nil || !strings.Contains(res.Contents[0].(mcpgo.TextResourceContents).Text, "## User") {
		t.Fatalf("read resource: %v %+v", err, res)
	}
	rr.Params.URI = "impetus://models"
	if _, err := c.ReadResource(ctx, rr); err != nil {
		t.Fatalf("read models: %v", err)
	}
	gp := mcpgo.GetPromptRequest{}
	gp.Params.Name, gp.Params.Arguments = "continue_conversation", map[string]string{"id": convID}
	if p, err := c.GetPrompt(ctx, gp); err != nil || len(p.Messages) != 2 {
		t.Fatalf("continue_conversation: %v %+v", err, p)
	}

	// Bad input.
	if _, _, err := callTool(ctx, "generate", map[string]any{"prompt": "hi", "temperature": "warm"}, nil); !errors.Is(err, mcpgo.ErrInvalidParams) || !strings.Contains(err.Error(), "temperature") {
		t.Fatalf("wrong type: %v", err)
	}
	if _, _, err := callTool(ctx, "nope", nil, nil); !errors.Is(err, mcpgo.ErrInvalidParams) {
		t.Fatalf("unknown tool: %v", err)
	}
	if r, _, err := callTool(ctx, "generate", map[string]any{"prompt": "hi", "model": "no-such-org/no-such-model"}, nil); err != nil || !r.IsError ||
		!strings.Contains(r.Content[0].(mcpgo.TextContent).Text, "no-such-org/no-such-model") {
		t.Fatalf("missing model: %v %+v", err, r)
	}

	// Cancellation: the client sends notifications/cancelled when its
	// context ends; the server stops the model and stays up.
	cctx, ccancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, err := callTool(cctx, "generate", map[string]any{"prompt": "Write a very long story", "max_tokens": 2000, "temperature": 1}, "p2")
		errc <- err
	}()
	select {
	case <-first:
	case <-time.After(time.Minute):
		t.Fatal("no progress before cancelling")
	}
	ccancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	// The engine runs one request at a time: a quick answer now means the
	// cancelled generation let go of the model.
	if r, _, err := callTool(ctx, "generate", map[string]any{"prompt": "Hi", "max_tokens": 2}, nil); err != nil || r.IsError {
		t.Fatalf("generate after cancel: %v %+v", err, r)
	}
	t.Logf("cancel and next generation took %v", time.Since(start))

	if err := c.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Fatalf("server stderr: %s", stderr.String())
	}
}

// TestMCPBinaryStdoutIsOnlyJSONRPC writes raw lines, malformed ones among
// them, to the binary: each malformed line gets -32700 and the server goes
// on; every stdout line parses as JSON-RPC; it exits when stdin closes.
func TestMCPBinaryStdoutIsOnlyJSONRPC(t *testing.T) {
	model := mcpTestModel(t)
	bin := buildImpetus(t)
	cmd := exec.Command(bin, "mcp", "-m", model, "-v")
	cmd.Env = mcpEnv(t)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdoutPipe)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var lines []string
	send := func(s string) {
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() map[string]any {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("stdout ended: %v\nstderr: %s", sc.Err(), stderr.String())
		}
		lines = append(lines, sc.Text())
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", sc.Text())
		}
		return m
	}
	errCode := func(m map[string]any) any {
		if e, ok := m["error"].(map[string]any); ok {
			return e["code"]
		}
		return nil
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := recv(); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`garbage`)
	if m := recv(); errCode(m) != float64(-32700) {
		t.Fatalf("garbage: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"generate","arguments":{"prompt":"Hello","max_tokens":6},"_meta":{"progressToken":7}}}`)
	var progress int
	for {
		m := recv()
		if m["method"] == "notifications/progress" {
			progress++
			continue
		}
		if m["id"] != float64(2) || m["result"] == nil {
			t.Fatalf("generate: %v", m)
		}
		break
	}
	if progress == 0 {
		t.Error("no progress notification before the result")
	}
	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_conversation","arguments":{"id":7}}}`)
	if m := recv(); errCode(m) != float64(-32602) || !strings.Contains(fmt.Sprint(m["error"]), "id") {
		t.Fatalf("wrong type: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":4,"method":"ping"}`)
	if m := recv(); m["id"] != float64(4) || m["result"] == nil {
		t.Fatalf("ping after errors: %v", m)
	}
	// stdin closes: the process exits by itself, cleanly.
	stdin.Close()
	for sc.Scan() {
		lines = append(lines, sc.Text())
		t.Errorf("unexpected line after stdin closed: %q", sc.Text())
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit: %v\nstderr: %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("impetus mcp did not exit after stdin closed")
	}
	if !strings.Contains(stderr.String(), "MCP server on stdio") {
		t.Errorf("logs did not go to stderr: %q", stderr.String())
	}
	if len(lines) < 6 {
		t.Fatalf("only %d lines", len(lines))
	}
}

func TestMCPPrintConfig(t *testing.T) {
	for _, client := range []string{"claude", "claude-code", "vscode", "cursor", "zed"} {
		code, out, errOut := runImpetus(t, "mcp", "--print-config", client, "-m", "mlx-community/Qwen2.5-0.5B-Instruct-4bit")
		if code != 0 || !strings.Contains(out, "mlx-community/Qwen2.5-0.5B-Instruct-4bit") || !strings.Contains(out, "mcp") {
			t.Fatalf("%s: %d %q %q", client, code, out, errOut)
		}
		if client != "claude-code" && !json.Valid([]byte(out)) {
			t.Errorf("%s: not JSON: %s", client, out)
		}
	}
	code, _, errOut := runImpetus(t, "mcp", "--print-config", "emacs")
	if code != 2 || !strings.Contains(errOut, "claude-code") {
		t.Fatalf("unknown client: %d %q", code, errOut)
	}
	code, out, _ := runImpetus(t, "mcp", "--print-config", "vscode", "--http", "8765")
	if code != 0 || !strings.Contains(out, "http://127.0.0.1:8765/mcp") {
		t.Fatalf("vscode http: %d %q", code, out)
	}
}

func TestMCPRefusesRemoteBindWithoutTokenAndFlag(t *testing.T) {
	for _, args := range [][]string{
		{"mcp", "--http", "0.0.0.0:0"},
		{"mcp", "--http", "0.0.0.0:0", "--token", "t"},
		{"mcp", "--http", "0.0.0.0:0", "--allow-remote"},
	} {
		code, _, errOut := runImpetus(t, args...)
		if code != 2 || !strings.Contains(errOut, "--allow-remote") || !strings.Contains(errOut, "--token") {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
	code, _, errOut := runImpetus(t, "mcp", "--http", "not an address")
	if code != 2 || !strings.Contains(errOut, "--http") {
		t.Errorf("bad address: %d %q", code, errOut)
	}
}

// npmDir is testdata/npm with its installed packages, or "" (the test skips).
func npmDir(t *testing.T, pkg string) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "npm"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		t.Skipf("%s is not installed (run npm ci in testdata/npm)", pkg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	return dir
}

// TestMCPTypeScriptSDK spawns `impetus mcp` from the official TypeScript
// SDK's client: tools, generate with progress, search, bad input, cancel.
func TestMCPTypeScriptSDK(t *testing.T) {
	dir := npmDir(t, "@modelcontextprotocol/sdk")
	model := mcpTestModel(t)
	bin := buildImpetus(t)
	cmd := exec.Command("node", "mcp_client.mjs")
	cmd.Dir = dir
	cmd.Env = append(mcpEnv(t), "IMPETUS_BIN="+bin, "IMPETUS_MODEL="+model)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runWithTimeout(cmd, 2*time.Minute); err != nil {
		t.Fatalf("mcp_client.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var seen struct {
		Tools                 []string `json:"tools"`
		Text                  string   `json:"text"`
		ProgressNotifications int      `json:"progress_notifications"`
		SearchHits            int      `json:"search_hits"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &seen); err != nil || len(seen.Tools) != 6 || seen.ProgressNotifications == 0 || seen.SearchHits == 0 {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	t.Logf("TypeScript SDK: %s", strings.TrimSpace(stdout.String()))
}

// TestMCPInspectorCLI lists the tools and calls one with the MCP Inspector's
// command line, the way the README documents it.
func TestMCPInspectorCLI(t *testing.T) {
	dir := npmDir(t, "@modelcontextprotocol/inspector")
	model := mcpTestModel(t)
	bin := buildImpetus(t)
	state := t.TempDir()
	inspector := filepath.Join(dir, "node_modules", ".bin", "mcp-inspector")
	run := func(args ...string) string {
		t.Helper()
		// The Inspector gives the server a minimal environment: -e passes the
		// isolated history and config on.
		cli := []string{"--cli",
			"-e", "IMPETUS_DB=" + filepath.Join(state, "impetus.db"),
			"-e", "IMPETUS_CONFIG=" + filepath.Join(state, "config.toml"),
			bin, "mcp", "-m", model}
		cmd := exec.Command(inspector, append(cli, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := runWithTimeout(cmd, 2*time.Minute); err != nil {
			t.Fatalf("inspector %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	// --strict fails (exit 6) on tool schemas some clients cannot use.
	list := run("--method", "tools/list", "--strict")
	var tools struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(list), &tools); err != nil || len(tools.Tools) != 6 {
		t.Fatalf("tools/list: %v\n%s", err, list)
	}
	out := run("--method", "tools/call", "--tool-name", "generate", "--tool-arg", "prompt=Hello", "--tool-arg", "max_tokens=8")
	var res struct {
		IsError           bool           `json:"isError"`
		StructuredContent map[string]any `json:"structuredContent"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.IsError || res.StructuredContent["text"] == nil {
		t.Fatalf("tools/call generate: %v\n%s", err, out)
	}
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("timed out after %v", d)
	}
}

// TestMCPHTTPTypeScriptSDK starts `impetus mcp --http 127.0.0.1:0 --token`
// and drives it with the TypeScript SDK's Streamable HTTP client.
func TestMCPHTTPTypeScriptSDK(t *testing.T) {
	dir := npmDir(t, "@modelcontextprotocol/sdk")
	model := mcpTestModel(t)
	bin := buildImpetus(t)
	srv := exec.Command(bin, "mcp", "-m", model, "--http", "127.0.0.1:0", "--token", "sekret")
	srv.Env = mcpEnv(t)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("impetus mcp --http exited with %v after SIGINT", err)
			}
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			t.Error("impetus mcp --http did not stop on SIGINT")
		}
	}()
	// The server prints its URL on stderr.
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "impetus: MCP on "); ok {
				urlc <- u
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not print its URL")
	}
	cmd := exec.Command("node", "mcp_http_client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IMPETUS_MCP_URL="+url, "IMPETUS_MCP_TOKEN=sekret")
	var stdout, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errb
	if err := runWithTimeout(cmd, 2*time.Minute); err != nil {
		t.Fatalf("mcp_http_client.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), errb.String())
	}
	t.Logf("TypeScript SDK over HTTP: %s", strings.TrimSpace(stdout.String()))
}

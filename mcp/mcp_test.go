package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/store"
)

var allTools = []string{"export_conversation", "generate", "get_conversation", "list_conversations", "list_models", "search_conversations"}

// TestStdioWithMCPGoClient drives the real server over the stdio transport
// with mcp-go's client, using the initialize handshake (protocol
// 2025-11-25, what Claude, VS Code and the TypeScript SDK speak).
func TestStdioWithMCPGoClient(t *testing.T) {
	f := newFixture(t)
	c, lines := f.stdioClient(t, client.WithLegacyProtocolOnly())
	exercise(t, f, c)
	testCancel(t, f, c)
	assertJSONRPC(t, lines.all())
	for _, l := range lines.all() {
		if strings.Contains(l, `"finish_reason":"cancelled"`) {
			t.Errorf("a cancelled request got a response: %s", l)
		}
	}
}

// TestStdioModernProtocol uses mcp-go's default negotiation, which tries
// the stateless 2026-07-28 protocol (server/discover, no initialize).
func TestStdioModernProtocol(t *testing.T) {
	f := newFixture(t)
	c, lines := f.stdioClient(t)
	res := initialize(t, c)
	if res.ServerInfo.Name != ServerName {
		t.Fatalf("server name %q", res.ServerInfo.Name)
	}
	tools, err := c.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil || len(tools.Tools) != len(allTools) {
		t.Fatalf("tools/list: %v %v", err, tools)
	}
	testGenerateProgress(t, c)
	testCancel(t, f, c)
	assertJSONRPC(t, lines.all())
}

// TestHTTPWithMCPGoClient drives the same checks over Streamable HTTP.
func TestHTTPWithMCPGoClient(t *testing.T) {
	f := newFixture(t)
	hs := httptest.NewServer(f.srv.HTTPHandler(HTTPOptions{Token: "sekret"}))
	t.Cleanup(hs.Close)
	tr, err := transport.NewStreamableHTTP(hs.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer sekret"}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	exercise(t, f, c)
	testCancel(t, f, c)
}

func exercise(t *testing.T, f *fixture, c *client.Client) {
	ctx := context.Background()
	init := initialize(t, c)
	if init.ServerInfo.Name != ServerName || !strings.Contains(init.Instructions, "search_conversations") {
		t.Fatalf("initialize: %+v", init)
	}
	if init.Capabilities.Tools == nil || init.Capabilities.Resources == nil || init.Capabilities.Prompts == nil {
		t.Fatalf("capabilities: %+v", init.Capabilities)
	}

	// tools/list: every tool with an input and an output schema.
	list, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.OutputSchema.Type != "object" || len(tool.OutputSchema.Properties) == 0 {
			t.Errorf("%s: no output schema: %+v", tool.Name, tool.OutputSchema)
		}
		if tool.InputSchema.Type != "object" {
			t.Errorf("%s: input schema type %q", tool.Name, tool.InputSchema.Type)
		}
		if tool.Description == "" {
			t.Errorf("%s: no description", tool.Name)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != strings.Join(allTools, ",") {
		t.Fatalf("tools %v, want %v", names, allTools)
	}

	_, models := call(t, c, "list_models", nil)
	if ms := models["models"].([]any); len(ms) != 1 || ms[0].(map[string]any)["id"] != "tiny-llama" || models["default_model"] != f.model {
		t.Fatalf("list_models: %v", models)
	}

	testGenerateProgress(t, c)

	_, models = call(t, c, "list_models", nil)
	if models["loaded"] != f.model || models["models"].([]any)[0].(map[string]any)["loaded"] != true {
		t.Fatalf("list_models after generate: %v", models)
	}

	// Saving: a new conversation, then a second turn in it.
	res, saved := call(t, c, "generate", map[string]any{
		"messages": []any{map[string]any{"role": "system", "content": "You are terse."},
			map[string]any{"role": "user", "content": "Describe the harbour at dawn"}},
		"max_tokens": 6, "save": true, "title": "Harbour talk",
	})
	if res.IsError || saved["conversation_id"] == nil || saved["message_id"] == nil {
		t.Fatalf("generate save: %v %v", res.Content, saved)
	}
	convID := saved["conversation_id"].(string)
	res, second := call(t, c, "generate", map[string]any{"prompt": "And the lighthouse?", "max_tokens": 5, "conversation_id": convID[:8]})
	if res.IsError || second["conversation_id"] != convID {
		t.Fatalf("generate conversation_id: %v %v", res.Content, second)
	}
	path, err := f.st.ActivePath(ctx, convID)
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range path {
		roles = append(roles, string(m.Role))
		if m.Status != store.StatusComplete {
			t.Errorf("stored message %s is %s", m.ID, m.Status)
		}
	}
	if strings.Join(roles, ",") != "system,user,assistant,user,assistant" || path[2].ID != saved["message_id"] || path[4].Content != second["text"] {
		t.Fatalf("stored branch %v (%v)", roles, path)
	}

	// search_conversations: words, a time range, bad times.
	_, found := call(t, c, "search_conversations", map[string]any{"query": "lighthouse"})
	hits := found["hits"].([]any)
	if len(hits) == 0 || hits[0].(map[string]any)["conversation_id"] != convID || !strings.Contains(hits[0].(map[string]any)["snippet"].(string), "[lighthouse]") {
		t.Fatalf("search: %v", found)
	}
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	_, none := call(t, c, "search_conversations", map[string]any{"query": "lighthouse", "since": tomorrow})
	if len(none["hits"].([]any)) != 0 {
		t.Fatalf("search since tomorrow: %v", none)
	}
	_, some := call(t, c, "search_conversations", map[string]any{"query": "lighthouse", "until": tomorrow, "since": time.Now().Add(-time.Hour).Format(time.RFC3339)})
	if len(some["hits"].([]any)) == 0 {
		t.Fatalf("search within the last hour: %v", some)
	}
	expectInvalidParams(t, c, "search_conversations", map[string]any{"query": "x", "since": "last tuesday"}, "since")

	// list_conversations: follow the cursor through every page.
	for i := 0; i < 3; i++ {
		if _, err := f.st.CreateConversation(ctx, store.NewConversation{Title: fmt.Sprintf("extra %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, pages, total := "", 0, 0
	for {
		args := map[string]any{"limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		_, page := call(t, c, "list_conversations", args)
		pages++
		total = int(page["total"].(float64))
		for _, cv := range page["conversations"].([]any) {
			seen[cv.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != total || total < 4 || pages != (total+1)/2 {
		t.Fatalf("listed %d conversations in %d pages, total %d", len(seen), pages, total)
	}
	r, _ := callRaw(t, c, "list_conversations", map[string]any{"cursor": "not-a-cursor"})
	if !r.IsError || !strings.Contains(textOf(t, r), "cursor") {
		t.Fatalf("bad cursor: %+v", r)
	}

	// get_conversation: roles, models, timestamps.
	_, conv := call(t, c, "get_conversation", map[string]any{"id": strings.ToLower(convID[:10])})
	msgs := conv["messages"].([]any)
	if conv["conversation"].(map[string]any)["title"] != "Harbour talk" || conv["branch"] != "active" || len(msgs) != 5 {
		t.Fatalf("get_conversation: %v", conv)
	}
	for _, m := range msgs {
		m := m.(map[string]any)
		if _, err := time.Parse(time.RFC3339Nano, m["created_at"].(string)); err != nil {
			t.Errorf("message time %v: %v", m["created_at"], err)
		}
		if m["role"] == "assistant" && m["model"] != f.model {
			t.Errorf("assistant message model %v, want %s", m["model"], f.model)
		}
	}
	r, _ = callRaw(t, c, "get_conversation", map[string]any{"id": "ZZZZZZZZ"})
	if !r.IsError || !strings.Contains(textOf(t, r), "no conversation") {
		t.Fatalf("unknown conversation: %+v", r)
	}

	// export_conversation in every format.
	for format, check := range map[string]func(string) bool{
		"md":    func(s string) bool { return strings.Contains(s, "Describe the harbour at dawn") },
		"json":  func(s string) bool { return json.Valid([]byte(s)) && strings.Contains(s, convID) },
		"jsonl": func(s string) bool { return strings.HasPrefix(s, `{"messages":[`) },
		"html":  func(s string) bool { return strings.Contains(s, "<html") && strings.Contains(s, "lighthouse") },
	} {
		res, out := call(t, c, "export_conversation", map[string]any{"id": convID, "format": format})
		if res.IsError || out["format"] != format || !check(out["content"].(string)) || textOf(t, res) != out["content"] {
			t.Errorf("export %s: %v", format, out)
		}
	}

	// Resources.
	resources, err := c.ListResources(ctx, mcpgo.ListResourcesRequest{})
	if err != nil || len(resources.Resources) != 1 || resources.Resources[0].URI != ModelsURI {
		t.Fatalf("resources/list: %v %+v", err, resources)
	}
	templates, err := c.ListResourceTemplates(ctx, mcpgo.ListResourceTemplatesRequest{})
	if err != nil || len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate.Raw() != "impetus://conversations/{id}" {
		t.Fatalf("resources/templates/list: %v %+v", err, templates)
	}
	read := func(uri string) (string, error) {
		req := mcpgo.ReadResourceRequest{}
		req.Params.URI = uri
		res, err := c.ReadResource(ctx, req)
		if err != nil {
			return "", err
		}
		return res.Contents[0].(mcpgo.TextResourceContents).Text, nil
	}
	md, err := read(ConversationURIPrefix + convID)
	if err != nil || !strings.Contains(md, "And the lighthouse?") || !strings.Contains(md, "## User") {
		t.Fatalf("read conversation: %v %q", err, md)
	}
	if _, err := read(ConversationURIPrefix + "ZZZZZZZZ"); !errors.Is(err, mcpgo.ErrResourceNotFound) {
		t.Fatalf("read unknown conversation: %v", err)
	}
	js, err := read(ModelsURI)
	if err != nil || !strings.Contains(js, `"tiny-llama"`) {
		t.Fatalf("read models: %v %q", err, js)
	}

	// Prompts.
	prompts, err := c.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil || len(prompts.Prompts) != 2 {
		t.Fatalf("prompts/list: %v %+v", err, prompts)
	}
	getPrompt := func(name string, args map[string]string) (*mcpgo.GetPromptResult, error) {
		req := mcpgo.GetPromptRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		return c.GetPrompt(ctx, req)
	}
	sum, err := getPrompt("summarize_conversation", map[string]string{"id": convID, "focus": "the lighthouse"})
	if err != nil || len(sum.Messages) != 1 || !strings.Contains(sum.Messages[0].Content.(mcpgo.TextContent).Text, "Describe the harbour at dawn") {
		t.Fatalf("summarize_conversation: %v %+v", err, sum)
	}
	cont, err := getPrompt("continue_conversation", map[string]string{"id": convID, "message": "What next?"})
	if err != nil {
		t.Fatal(err)
	}
	var proles []string
	for _, m := range cont.Messages {
		proles = append(proles, string(m.Role))
	}
	if strings.Join(proles, ",") != "user,user,assistant,user,assistant,user" || cont.Messages[5].Content.(mcpgo.TextContent).Text != "What next?" {
		t.Fatalf("continue_conversation roles %v", proles)
	}
	if _, err := getPrompt("summarize_conversation", nil); !errors.Is(err, mcpgo.ErrInvalidParams) || !strings.Contains(err.Error(), "id") {
		t.Fatalf("prompt without id: %v", err)
	}
	if _, err := getPrompt("continue_conversation", map[string]string{"id": "ZZZZZZZZ"}); !errors.Is(err, mcpgo.ErrInvalidParams) {
		t.Fatalf("prompt with an unknown conversation: %v", err)
	}

	// Completion of conversation ids, by prefix or by title.
	complete := func(ref any, value string) []string {
		req := mcpgo.CompleteRequest{}
		req.Params.Ref = ref
		req.Params.Argument = mcpgo.CompleteArgument{Name: "id", Value: value}
		res, err := c.Complete(ctx, req)
		if err != nil {
			t.Fatalf("complete %q: %v", value, err)
		}
		return res.Completion.Values
	}
	if got := complete(mcpgo.PromptReference{Type: "ref/prompt", Name: "summarize_conversation"}, strings.ToLower(convID)); len(got) != 1 || got[0] != convID {
		t.Fatalf("complete by prefix: %v", got)
	}
	if got := complete(mcpgo.ResourceReference{Type: "ref/resource", URI: "impetus://conversations/{id}"}, "harbour"); len(got) != 1 || got[0] != convID {
		t.Fatalf("complete by title: %v", got)
	}

	testBadInput(t, c)

	// Concurrent calls queue in the engine and all finish.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := mcpgo.CallToolRequest{}
			req.Params.Name = "generate"
			req.Params.Arguments = map[string]any{"prompt": fmt.Sprintf("Count to %d", i+3), "max_tokens": 8}
			res, err := c.CallTool(ctx, req)
			if err == nil && res.IsError {
				err = fmt.Errorf("%v", res.Content)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent generate: %v", err)
		}
	}
}

// testGenerateProgress checks generate's result and that its progress
// notifications carry the whole text and an increasing token count.
// The model is not loaded yet: the first notifications report its loading
// (progress below 1, no message).
func testGenerateProgress(t *testing.T, c *client.Client) {
	t.Helper()
	prog := newProgressLog(c, "gen-1")
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "generate"
	req.Params.Arguments = map[string]any{"prompt": "Tell me about the sea", "max_tokens": 24, "temperature": 0.8, "seed": 7}
	req.Params.Meta = &mcpgo.Meta{ProgressToken: "gen-1"}
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := structuredOf(t, res)
	text := out["text"].(string)
	if res.IsError || textOf(t, res) != text {
		t.Fatalf("generate: %+v", res)
	}
	usage := out["usage"].(map[string]any)
	n := usage["completion_tokens"].(float64)
	if n < 1 || n > 24 || usage["prompt_tokens"].(float64) < 5 {
		t.Fatalf("usage %v", usage)
	}
	if fr := out["finish_reason"]; fr != "length" && fr != "stop" {
		t.Fatalf("finish_reason %v", fr)
	}
	if out["timings"].(map[string]any)["total_ms"].(float64) <= 0 {
		t.Fatalf("timings %v", out["timings"])
	}
	// Notifications precede the response, so they are all in by now.
	msg, values := prog.snapshot()
	if msg != text {
		t.Fatalf("progress messages %q, want the text %q", msg, text)
	}
	if len(values) == 0 || values[len(values)-1] != n {
		t.Fatalf("progress %v, want it to end at %v tokens", values, n)
	}
	if values[0] >= 1 {
		t.Fatalf("progress %v: no notification while the model loaded", values)
	}
	for i := 1; i < len(values); i++ {
		if values[i] <= values[i-1] {
			t.Fatalf("progress not increasing: %v", values)
		}
	}
	// Same seed, same text.
	req.Params.Meta = nil
	again, err := c.CallTool(context.Background(), req)
	if err != nil || structuredOf(t, again)["text"] != text {
		t.Fatalf("same seed gave %v (%v), want %q", again, err, text)
	}
}

// testCancel cancels a long saved generation once its first tokens arrive
// and checks that the model stopped and the reply is stored as stopped.
func testCancel(t *testing.T, f *fixture, c *client.Client) {
	t.Helper()
	token := fmt.Sprintf("cancel-%d", time.Now().UnixNano())
	prog := newProgressLog(c, token)
	ctx, cancel := context.WithCancel(context.Background())
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "generate"
	req.Params.Arguments = map[string]any{"prompt": "Write a very long story " + token, "max_tokens": 2000, "save": true, "temperature": 1}
	req.Params.Meta = &mcpgo.Meta{ProgressToken: token}
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctx, req)
		errc <- err
	}()
	select {
	case <-prog.first:
	case <-time.After(30 * time.Second):
		t.Fatal("no progress notification")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call returned %v", err)
	}
	cancelledAt := time.Now()
	// The reply row was stored as the model ran; it ends as stopped.
	hits, err := f.st.Search(context.Background(), token, store.SearchOptions{})
	if err != nil || len(hits) == 0 {
		t.Fatalf("the cancelled exchange was not saved: %v %v", err, hits)
	}
	for {
		path, err := f.st.ActivePath(context.Background(), hits[0].ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		if last := path[len(path)-1]; last.Role == store.RoleAssistant && last.Status == store.StatusStopped {
			if last.CompletionTokens != nil && *last.CompletionTokens >= 2000 {
				t.Fatalf("the generation ran to the end: %d tokens", *last.CompletionTokens)
			}
			break
		}
		if time.Since(cancelledAt) > 5*time.Second {
			t.Fatalf("generation not stopped 5s after cancel: %+v", path[len(path)-1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The server still serves.
	if _, out := call(t, c, "list_models", nil); out == nil {
		t.Fatal("no answer after a cancellation")
	}
}

func callRaw(t *testing.T, c *client.Client, name string, args map[string]any) (*mcpgo.CallToolResult, error) {
	t.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res, err
}

func expectInvalidParams(t *testing.T, c *client.Client, name string, args map[string]any, field string) {
	t.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	_, err := c.CallTool(context.Background(), req)
	if !errors.Is(err, mcpgo.ErrInvalidParams) {
		t.Fatalf("%s(%v): got %v, want -32602", name, args, err)
	}
	if field != "" && !strings.Contains(err.Error(), field) {
		t.Fatalf("%s(%v): error %q does not name %s", name, args, err, field)
	}
}

func testBadInput(t *testing.T, c *client.Client) {
	t.Helper()
	expectInvalidParams(t, c, "no_such_tool", map[string]any{}, "no_such_tool")
	for _, tc := range []struct {
		args  map[string]any
		field string
	}{
		{map[string]any{"prompt": "hi", "max_tokens": "ten"}, "max_tokens"},
		{map[string]any{"prompt": 42}, "prompt"},
		{map[string]any{"prompt": "hi", "temperature": 5}, "temperature"},
		{map[string]any{"prompt": "hi", "max_token": 5}, "max_token"},
		{map[string]any{"prompt": "hi", "stop": "END"}, "stop"},
		{map[string]any{"messages": []any{map[string]any{"role": "wizard", "content": "x"}}}, "messages[0].role"},
		{map[string]any{"messages": []any{map[string]any{"role": "user"}}}, "messages[0].content"},
		{map[string]any{"prompt": "hi", "messages": []any{map[string]any{"role": "user", "content": "x"}}}, "messages"},
		{map[string]any{}, "prompt"},
		{map[string]any{"prompt": "hi", "raw": true, "save": true}, "raw"},
	} {
		expectInvalidParams(t, c, "generate", tc.args, tc.field)
	}
	expectInvalidParams(t, c, "get_conversation", map[string]any{}, "id")
	expectInvalidParams(t, c, "export_conversation", map[string]any{"id": "x", "format": "pdf"}, "format")
	expectInvalidParams(t, c, "list_conversations", map[string]any{"limit": 0}, "limit")

	// A generation that cannot start is a tool error, not a protocol error.
	res, _ := callRaw(t, c, "generate", map[string]any{"prompt": "hi", "model": "/no/such/model"})
	if !res.IsError || !strings.Contains(textOf(t, res), "/no/such/model") {
		t.Fatalf("missing model: %+v", res)
	}
}

// TestDefaultMaxTokensFitTheContext: the configured max_tokens (4096) is
// larger than this model's context (64); without an explicit max_tokens a
// call gets what the context leaves, saved or not, and a saved exchange is
// stored once.
func TestDefaultMaxTokensFitTheContext(t *testing.T) {
	f := newFixtureContext(t, 64)
	c, _ := f.stdioClient(t, client.WithLegacyProtocolOnly())
	initialize(t, c)
	for _, save := range []bool{false, true} {
		res, out := call(t, c, "generate", map[string]any{"prompt": "Hello there", "save": save})
		if res.IsError || out["finish_reason"] != "length" {
			t.Fatalf("save=%v: %+v %v", save, res.Content, out)
		}
		u := out["usage"].(map[string]any)
		if u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) != 64 {
			t.Fatalf("save=%v: usage %v does not fill the 64-token context", save, u)
		}
		if save {
			path, err := f.st.ActivePath(context.Background(), out["conversation_id"].(string))
			if err != nil || len(path) != 2 || path[0].Role != store.RoleUser || path[1].Status != store.StatusComplete {
				t.Fatalf("stored %v %+v", err, path)
			}
			all, _ := f.st.Messages(context.Background(), out["conversation_id"].(string))
			if len(all) != 2 {
				t.Fatalf("stored %d messages, want the user's and the reply", len(all))
			}
		}
	}
	// An explicit max_tokens that does not fit is the caller's error.
	res, _ := callRaw(t, c, "generate", map[string]any{"prompt": "Hello there", "max_tokens": 100})
	if !res.IsError || !strings.Contains(textOf(t, res), "context") {
		t.Fatalf("explicit max_tokens over the context: %+v", res)
	}
}

// TestStdioRawLines writes JSON-RPC by hand: malformed lines get -32700
// and the server goes on; every line it writes is JSON-RPC; it returns
// when stdin closes.
func TestStdioRawLines(t *testing.T) {
	f := newFixture(t)
	serverIn, clientOut := io.Pipe()
	clientIn, serverOut := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- f.srv.ServeStdio(context.Background(), serverIn, serverOut)
		serverOut.Close()
	}()
	sc := lineScanner(clientIn)
	var lines []string
	send := func(line string) {
		if _, err := io.WriteString(clientOut, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() map[string]any {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("no line from the server: %v", sc.Err())
		}
		lines = append(lines, sc.Text())
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		return m
	}
	code := func(m map[string]any) float64 {
		e, _ := m["error"].(map[string]any)
		if e == nil {
			return 0
		}
		return e["code"].(float64)
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := recv(); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, bad := range []string{`this is not json`, `{"jsonrpc":"2.0","id":2,"method":"tools/list"`, `{"jsonrpc":`} {
		send(bad)
		if m := recv(); code(m) != -32700 || m["id"] != nil {
			t.Fatalf("%q: %v", bad, m)
		}
	}
	send(`[{"jsonrpc":"2.0","id":3,"method":"ping"}]`)
	if m := recv(); code(m) != -32600 {
		t.Fatalf("batch: %v", m)
	}
	send("")
	send(`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"generate","arguments":{"prompt":"hi","seed":"seven"}}}`)
	if m := recv(); code(m) != -32602 || m["id"] != "x" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "seed") {
		t.Fatalf("wrong type: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_models"}}`)
	if m := recv(); m["result"] == nil || m["id"] != float64(4) {
		t.Fatalf("after bad lines: %v", m)
	}
	// A request still running when stdin closes is answered before the
	// server returns (`echo REQUEST | impetus mcp`).
	send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"generate","arguments":{"prompt":"Hello","max_tokens":4}}}`)
	clientOut.Close()
	if m := recv(); m["id"] != float64(5) || m["result"] == nil {
		t.Fatalf("drained request: %v", m)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeStdio did not return after stdin closed")
	}
	assertJSONRPC(t, lines)
}

// TestHTTPGuard checks DNS rebinding protection, origins and the token.
func TestHTTPGuard(t *testing.T) {
	f := newFixture(t)
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	do := func(h http.Handler, host string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "http://"+host+"/mcp", strings.NewReader(initBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	local := f.srv.HTTPHandler(HTTPOptions{})
	for _, host := range []string{"127.0.0.1:8765", "localhost:8765", "[::1]:8765", "localhost"} {
		if rec := do(local, host); rec.Code != 200 {
			t.Errorf("Host %s: %d %s", host, rec.Code, rec.Body)
		}
	}
	for _, host := range []string{"evil.example:8765", "192.168.1.2:8765", "localhost.evil.example"} {
		if rec := do(local, host); rec.Code != 403 || !strings.Contains(rec.Body.String(), "DNS rebinding") {
			t.Errorf("Host %s: %d %s", host, rec.Code, rec.Body)
		}
	}
	if rec := do(local, "127.0.0.1:8765", "Origin", "https://evil.example"); rec.Code != 403 {
		t.Errorf("foreign origin: %d", rec.Code)
	}
	if rec := do(local, "127.0.0.1:8765", "Origin", "http://localhost:3000"); rec.Code != 200 {
		t.Errorf("loopback origin: %d %s", rec.Code, rec.Body)
	}
	remote := f.srv.HTTPHandler(HTTPOptions{Token: "sekret", AllowRemote: true})
	if rec := do(remote, "myhost.lan:8765"); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d", rec.Code)
	}
	if rec := do(remote, "myhost.lan:8765", "Authorization", "Bearer wrong"); rec.Code != 401 {
		t.Errorf("wrong token: %d", rec.Code)
	}
	if rec := do(remote, "myhost.lan:8765", "Authorization", "Bearer sekret"); rec.Code != 200 {
		t.Errorf("token: %d %s", rec.Code, rec.Body)
	}
	if rec := do(remote, "myhost.lan:8765", "Authorization", "Bearer sekret", "Origin", "http://attacker.example"); rec.Code != 403 {
		t.Errorf("foreign origin with token: %d", rec.Code)
	}
}

func TestClientConfig(t *testing.T) {
	for _, client := range ClientNames() {
		out, err := ClientConfig(client, "/opt/impetus", []string{"mcp", "-m", "my model"}, "", "")
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		if client == "claude-code" {
			if out != "claude mcp add impetus -- /opt/impetus mcp -m 'my model'\n" {
				t.Errorf("claude-code: %q", out)
			}
			continue
		}
		var doc map[string]map[string]map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", client, err, out)
		}
		key := map[string]string{"claude": "mcpServers", "cursor": "mcpServers", "vscode": "servers", "zed": "context_servers"}[client]
		entry := doc[key]["impetus"]
		if entry["command"] != "/opt/impetus" || fmt.Sprint(entry["args"]) != "[mcp -m my model]" {
			t.Errorf("%s: %s", client, out)
		}
	}
	out, err := ClientConfig("vscode", "/opt/impetus", nil, "http://127.0.0.1:8765/mcp", "tok")
	if err != nil || !strings.Contains(out, `"type": "http"`) || !strings.Contains(out, "Bearer tok") {
		t.Errorf("vscode http: %v %s", err, out)
	}
	if _, err := ClientConfig("claude", "/opt/impetus", nil, "http://127.0.0.1:8765/mcp", ""); err == nil {
		t.Error("Claude Desktop over HTTP should be refused")
	}
	if _, err := ClientConfig("emacs", "/opt/impetus", nil, "", ""); err == nil || !strings.Contains(err.Error(), "claude-code") {
		t.Errorf("unknown client: %v", err)
	}
}

// TestHTTPProtocol checks the Streamable HTTP transport's rules with raw
// requests: sessions, status codes, JSON vs SSE answers.
func TestHTTPProtocol(t *testing.T) {
	f := newFixture(t)
	hs := httptest.NewServer(f.srv.HTTPHandler(HTTPOptions{}))
	t.Cleanup(hs.Close)
	post := func(session, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", hs.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || session == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("initialize: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode != 202 {
		t.Fatalf("notification: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", hs.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "1999-01-01")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad protocol version: %v %v", err, resp)
	}
	if resp := post("", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); resp.StatusCode != 400 {
		t.Fatalf("no session: %d", resp.StatusCode)
	}
	if resp := post("nope", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); resp.StatusCode != 404 {
		t.Fatalf("unknown session: %d", resp.StatusCode)
	}
	if resp := post(session, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"generate","arguments":{"prompt":true}}}`); resp.StatusCode != 200 {
		t.Fatalf("bad arguments: %d", resp.StatusCode)
	} else {
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if e, _ := m["error"].(map[string]any); e == nil || e["code"] != float64(-32602) || !strings.Contains(e["message"].(string), "prompt") {
			t.Fatalf("bad arguments: %v", m)
		}
	}
	if resp := post(session, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"generate","arguments":{"prompt":"Hi","max_tokens":4},"_meta":{"progressToken":"t"}}}`); resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("progress without SSE: %v", resp.Header)
	} else {
		body, _ := io.ReadAll(resp.Body)
		events := strings.Split(strings.TrimSpace(string(body)), "\n\n")
		last := events[len(events)-1]
		if len(events) < 2 || !strings.Contains(events[0], "notifications/progress") || !strings.Contains(last, `"id":4`) || !strings.Contains(last, `"result"`) {
			t.Fatalf("SSE stream: %s", body)
		}
	}
	if resp := post(session, `{"jsonrpc":"2.0","id":5,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`); resp.StatusCode != 400 {
		t.Fatalf("modern request: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", hs.URL+"/mcp", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET: %v %v", err, resp)
	}
	req, _ = http.NewRequest("DELETE", hs.URL+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", session)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE: %v %v", err, resp)
	}
	if resp := post(session, `{"jsonrpc":"2.0","id":6,"method":"ping"}`); resp.StatusCode != 404 {
		t.Fatalf("ended session: %d", resp.StatusCode)
	}
}

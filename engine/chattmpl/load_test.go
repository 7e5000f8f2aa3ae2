package chattmpl

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadNamedTemplatesAndTokens(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{
		"bos_token": map[string]any{"__type": "AddedToken", "content": "<s>", "lstrip": false},
		"eos_token": "</s>",
		"chat_template": []map[string]string{
			{"name": "default", "template": "D{{ bos_token }}{{ messages|length }}"},
			{"name": "tool_use", "template": "T{{ tools|length }}{{ eos_token }}"},
			{"name": "rag", "template": "R{{ documents[0].title }}"},
		},
	}
	data, _ := json.Marshal(cfg)
	writeFile(t, dir, "tokenizer_config.json", string(data))
	tmpl, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.BOSToken != "<s>" || tmpl.EOSToken != "</s>" {
		t.Errorf("tokens %q %q", tmpl.BOSToken, tmpl.EOSToken)
	}
	if got := strings.Join(tmpl.Names(), ","); got != "default,rag,tool_use" {
		t.Errorf("names %s", got)
	}
	in := Input{Messages: []Message{{Role: "user", Content: "hi"}}, BOSToken: tmpl.BOSToken, EOSToken: tmpl.EOSToken}
	if out, err := tmpl.Render(in); err != nil || out != "D<s>1" {
		t.Errorf("default: %q %v", out, err)
	}
	in.Tools = []json.RawMessage{json.RawMessage(`{"name": "f"}`)}
	if out, err := tmpl.Render(in); err != nil || out != "T1</s>" {
		t.Errorf("tool_use with tools: %q %v", out, err)
	}
	out, err := RenderJSON(tmpl.Named("rag"), []byte(`{"messages": [], "documents": [{"title": "Doc"}]}`), "", "")
	if err != nil || out != "RDoc" {
		t.Errorf("rag: %q %v", out, err)
	}
	if tmpl.Named("nope") != nil {
		t.Error("Named of a missing name is not nil")
	}
}

func TestLoadPrefersJinjaFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tokenizer_config.json", `{"chat_template": "from config", "eos_token": "E"}`)
	writeFile(t, dir, "chat_template.jinja", "from file {{ eos_token }}\n")
	tmpl, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := tmpl.Render(Input{EOSToken: tmpl.EOSToken}); out != "from file E" {
		t.Errorf("got %q", out)
	}
	// Only the .jinja file, no tokenizer_config.json.
	dir2 := t.TempDir()
	writeFile(t, dir2, "chat_template.jinja", "only {{ messages[0].content }}")
	tmpl, err = Load(dir2)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := tmpl.Render(Input{Messages: []Message{{Role: "user", Content: "x"}}}); out != "only x" {
		t.Errorf("got %q", out)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`{"eos_token": "x"}`, `has no "chat_template"`},
		{`{"chat_template": 5}`, "must be a string or a list"},
		{`{"chat_template": [{"name": "default"}]}`, `needs a "name" and a "template"`},
		{`{"chat_template": "{% if %}"}`, "tokenizer_config.json (chat_template):1:7: syntax error"},
		{`{"chat_template": "x", "bos_token": 3}`, `"bos_token" must be a string`},
		{`{not json`, "invalid JSON"},
	} {
		dir := t.TempDir()
		writeFile(t, dir, "tokenizer_config.json", c.cfg)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestErrorPositions(t *testing.T) {
	for _, c := range []struct {
		src       string
		line, col int
		want      string
	}{
		{"ab\n  {{ x + }}", 2, 10, "syntax error: unexpected '}}'"},
		{"{% for x in xs %}\n{{ x }}", 1, 1, "{% for %} is not closed"},
		{"é{% bogus %}", 1, 5, "unknown statement {% bogus %}"},
		{"{{ 'abc }}", 1, 4, "string literal is not closed"},
		{"x\n{% endif %}", 2, 4, "without a matching opening tag"},
		{"{{ a }\n", 1, 6, "expected '}}', found '}'"},
		{"{{ a", 1, 5, "expected '}}', found end of template"},
		{"{# open", 1, 1, "comment is not closed"},
		{"{{ a ! b }}", 1, 6, "unexpected character '!'"},
	} {
		_, err := ParseNamed("t.jinja", c.src)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: want *Error, got %v", c.src, err)
			continue
		}
		if e.Line != c.line || e.Col != c.col || !strings.Contains(e.Msg, c.want) || !strings.HasPrefix(err.Error(), "t.jinja:") {
			t.Errorf("%q: got %d:%d %q, want %d:%d %q", c.src, e.Line, e.Col, err.Error(), c.line, c.col, c.want)
		}
	}
	// Runtime errors carry the position of the failing expression.
	tmpl, err := ParseNamed("r.jinja", "line1\n{% if true %}\n  {{ raise_exception('boom: ' ~ 1) }}\n{% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(Input{})
	var e *Error
	if !errors.As(err, &e) || !e.Raised || e.Msg != "boom: 1" || e.Line != 3 || e.Col != 6 {
		t.Errorf("raise: %#v (%v)", e, err)
	}
}

func TestRenderInputVariables(t *testing.T) {
	tmpl, err := Parse(`{{ messages|tojson }}|{{ tools }}|{{ documents is none }}|{{ add_generation_prompt }}|{{ bos_token }}{{ eos_token }}|{{ enable_thinking }}|{{ custom.k }}`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(Input{
		Messages: []Message{
			{Role: "user", Content: "hé"},
			{Raw: json.RawMessage(`{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": 2}}}]}`)},
		},
		AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "</s>",
		Extra: map[string]any{"enable_thinking": false, "custom": map[string]any{"k": "v"}},
	})
	want := `[{"role": "user", "content": "hé"}, {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": 2}}}]}]||true|true|<s></s>|false|v`
	if err != nil || out != want {
		t.Errorf("got %q, %v\nwant %q", out, err, want)
	}
	if _, err := tmpl.Render(Input{Messages: []Message{{Raw: json.RawMessage(`[1]`)}}}); err == nil || !strings.Contains(err.Error(), "messages[0]") {
		t.Errorf("bad raw message: %v", err)
	}
}

func TestStrftimeNow(t *testing.T) {
	old := nowFunc
	defer func() { nowFunc = old }()
	nowFunc = func() time.Time { return time.Date(2024, 7, 5, 9, 3, 7, 0, time.UTC) }
	tmpl, err := Parse(`{{ strftime_now("%d %b %Y|%-d %B|%Y-%m-%d %H:%M:%S|%I%p %a %A %j %%") }}`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(Input{})
	if want := "05 Jul 2024|5 July|2024-07-05 09:03:07|09AM Fri Friday 187 %"; err != nil || out != want {
		t.Errorf("got %q %v, want %q", out, err, want)
	}
}

func TestConcurrentRender(t *testing.T) {
	tmpl, err := Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			out, _ := tmpl.Render(Input{Messages: make([]Message, 3)})
			done <- out
		}()
	}
	for i := 0; i < 8; i++ {
		if out := <-done; out != "3" {
			t.Errorf("got %q", out)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"{% set s = 'ab' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}", "more than the limit"},
		{"{% set l = [1] %}{% for i in range(40) %}{% set l = l + l %}{% endfor %}", "list of more than"},
		{"{{ [1, 2] * 100000 }}", "list of more than"},
		{"{{ range(100000) }}", "longer than the limit"},
		{"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "evaluation steps"},
		{"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested more than"},
		{"{% set a = 'x' * 60000 %}{% for i in range(100) %}{% set b = a ~ i %}{% endfor %}", "bytes of strings in all"},
		{"{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", "output exceeds"},
	} {
		tmpl, err := Parse(c.src)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.maxSteps, tmpl.maxOutput, tmpl.maxItems = 100_000, 64_000, 10_000
		_, err = tmpl.Render(Input{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.src, err, c.want)
		}
	}
}

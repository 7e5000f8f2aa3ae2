package chattmpl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

// TestCrossCheckHFJinja renders every construct case and every reference
// scenario with @huggingface/jinja (node) and with this engine, and requires
// identical bytes wherever @huggingface/jinja succeeds (cases marked
// hfDiffers excepted). It needs node and the npm package: it uses the
// repository's pinned test clients (testdata/npm, installed by `npm ci`
// there, as CI does) or the node_modules directory IMPETUS_HFJINJA names,
// and skips when neither is there.
//
// More cases come from IMPETUS_CHAT_TEMPLATES, a directory of *.jinja chat
// templates (each rendered with every shared scenario plus tool-call,
// thinking and multi-part ones), and IMPETUS_HFJINJA_CASES, a JSON-lines file
// of {"name", "template", "vars"} objects.
// hfJinjaDir is the node_modules directory holding @huggingface/jinja:
// IMPETUS_HFJINJA, else the repository's testdata/npm; it skips without one.
func hfJinjaDir(tb testing.TB) string {
	dir := os.Getenv("IMPETUS_HFJINJA")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", "..", "testdata", "npm", "node_modules"))
	}
	if _, err := os.Stat(filepath.Join(dir, "@huggingface", "jinja")); err != nil {
		tb.Skipf("@huggingface/jinja not found under %s: run (cd testdata/npm && npm ci), or set IMPETUS_HFJINJA", dir)
	}
	return dir
}

func TestCrossCheckHFJinja(t *testing.T) {
	dir := hfJinjaDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	type job struct {
		name, tmpl string
		vars       json.RawMessage
		hfDiffers  string
	}
	var jobs []job
	for _, c := range constructCases {
		vars := c.vars
		if vars == "" {
			vars = "{}"
		}
		jobs = append(jobs, job{c.name, c.tmpl, json.RawMessage(vars), c.hfDiffers})
	}
	for _, c := range extraTemplateCases(t) {
		jobs = append(jobs, job{c.name, c.tmpl, c.vars, ""})
	}
	seed := int64(1)
	if s := os.Getenv("IMPETUS_HFJINJA_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	for i, tmpl := range randomTemplates(seed, 3000) {
		jobs = append(jobs, job{fmt.Sprintf("random-%d", i), tmpl, json.RawMessage(randomTemplateVars), ""})
	}
	for i, tmpl := range randomWhitespaceTemplates(seed, 2000) {
		jobs = append(jobs, job{fmt.Sprintf("random-ws-%d", i), tmpl, json.RawMessage("{}"), ""})
	}
	if path := os.Getenv("IMPETUS_HFJINJA_CASES"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line == "" {
				continue
			}
			var c struct {
				Name     string          `json:"name"`
				Template string          `json:"template"`
				Vars     json.RawMessage `json:"vars"`
			}
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			jobs = append(jobs, job{c.Name, c.Template, c.Vars, ""})
		}
	}

	var stdin strings.Builder
	for _, j := range jobs {
		line, _ := json.Marshal(map[string]any{"template": j.tmpl, "vars": j.vars})
		stdin.Write(line)
		stdin.WriteByte('\n')
	}
	cmd := exec.Command(node, "testdata/hfjinja.mjs")
	cmd.Env = append(os.Environ(), "HFJINJA_DIR="+dir)
	cmd.Stdin = strings.NewReader(stdin.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	i, compared := 0, 0
	for sc.Scan() {
		if i >= len(jobs) {
			t.Fatal("node printed more results than cases")
		}
		j := jobs[i]
		i++
		var res struct {
			Out   *string `json:"out"`
			Error string  `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		got, gerr := renderCase(j.tmpl, string(j.vars))
		switch {
		case res.Out == nil:
			if j.hfDiffers == "" && gerr == nil && !strings.HasPrefix(j.name, "random-") {
				t.Logf("%s: @huggingface/jinja fails (%s), impetus renders %q", j.name, res.Error, got)
			}
		case j.hfDiffers != "":
			if gerr == nil && got == *res.Out {
				t.Logf("%s: marked hfDiffers (%s) but renders identically", j.name, j.hfDiffers)
			}
		case gerr != nil && strings.HasPrefix(j.name, "random-") && knownRandomDifference(gerr):
		case gerr != nil:
			t.Errorf("%s: impetus fails: %v; @huggingface/jinja renders %q", j.name, gerr, *res.Out)
		case got != *res.Out:
			t.Errorf("%s:\n impetus %q\n hfjinja %q", j.name, got, *res.Out)
		default:
			compared++
		}
	}
	if i != len(jobs) {
		t.Fatalf("node answered %d of %d cases", i, len(jobs))
	}
	t.Logf("%d renderings byte-identical to @huggingface/jinja", compared)
}

// knownRandomDifference is an error impetus reports on purpose where
// @huggingface/jinja goes on: division by zero (JavaScript's Infinity), and
// a method or attribute after a filter call (x|f(a).m()), which Jinja2 rejects.
func knownRandomDifference(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "by zero") || strings.Contains(msg, "found '.'")
}

type templateCase struct {
	name, tmpl string
	vars       json.RawMessage
}

// extraTemplateCases renders each template in $IMPETUS_CHAT_TEMPLATES/*.jinja
// (real chat templates) with each scenario of the shared test data.
func extraTemplateCases(t *testing.T) []templateCase {
	dir := os.Getenv("IMPETUS_CHAT_TEMPLATES")
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jinja"))
	if len(files) == 0 {
		t.Fatalf("no *.jinja files in IMPETUS_CHAT_TEMPLATES=%s", dir)
	}
	td := sharedtestdata.Dir(t)
	data, err := os.ReadFile(filepath.Join(td, "chat_templates", "scenarios.json"))
	if err != nil {
		t.Fatal(err)
	}
	var scenarios []struct {
		Name string                     `json:"name"`
		Vars map[string]json.RawMessage `json:"vars"`
	}
	if err := json.Unmarshal(data, &scenarios); err != nil {
		t.Fatal(err)
	}
	scenarios = append(scenarios, extraScenarios(t)...)
	var cases []templateCase
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scenarios {
			vars := map[string]json.RawMessage{}
			for k, v := range s.Vars {
				vars[k] = v
			}
			vars["bos_token"] = json.RawMessage(`"<s>"`)
			vars["eos_token"] = json.RawMessage(`"</s>"`)
			raw, _ := json.Marshal(vars)
			cases = append(cases, templateCase{filepath.Base(f) + "/" + s.Name, string(src), raw})
		}
	}
	return cases
}

// extraScenarios adds tool calls, tool results, thinking and multi-part
// content to the shared scenarios.
func extraScenarios(t *testing.T) []struct {
	Name string                     `json:"name"`
	Vars map[string]json.RawMessage `json:"vars"`
} {
	const js = `[
{"name": "tool-call-roundtrip", "vars": {"messages": [
  {"role": "system", "content": "You are helpful."},
  {"role": "user", "content": "Weather in Paris?"},
  {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]},
  {"role": "tool", "content": "{\"temp\": 21}"},
  {"role": "user", "content": "Thanks"}],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}],
  "add_generation_prompt": true}},
{"name": "thinking", "vars": {"messages": [
  {"role": "user", "content": "2+2?"},
  {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
  {"role": "user", "content": "3+3?"}], "add_generation_prompt": true, "enable_thinking": false}},
{"name": "content-parts", "vars": {"messages": [
  {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "image"}, {"type": "text", "text": " please"}]}],
  "add_generation_prompt": true}}
]`
	var out []struct {
		Name string                     `json:"name"`
		Vars map[string]json.RawMessage `json:"vars"`
	}
	if err := json.Unmarshal([]byte(js), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

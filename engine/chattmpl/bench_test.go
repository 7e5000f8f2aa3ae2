package chattmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

// longConversation is a system prompt, one tool and turns user/assistant
// exchanges of a few hundred bytes each, as RenderJSON input.
func longConversation(turns int) []byte {
	msgs := []map[string]any{{"role": "system", "content": "You are a helpful assistant."}}
	for i := 0; i < turns; i++ {
		msgs = append(msgs,
			map[string]any{"role": "user", "content": fmt.Sprintf("Question %d: %s", i, strings.Repeat("How does this work? ", 10))},
			map[string]any{"role": "assistant", "content": fmt.Sprintf("Answer %d: %s", i, strings.Repeat("It works like this. ", 15))})
	}
	in := map[string]any{
		"messages":              msgs,
		"add_generation_prompt": true,
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "get_weather", "description": "Get the weather",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		}}},
	}
	data, _ := json.Marshal(in)
	return data
}

// BenchmarkRenderLongConversation renders a 200-turn (400 message, ~150 KB)
// conversation with each shared template, JSON decoding included.
//
//	go test -run '^$' -bench RenderLong -benchmem ./engine/chattmpl/
func BenchmarkRenderLongConversation(b *testing.B) {
	td := sharedtestdata.Dir(b)
	input := longConversation(200)
	for _, model := range referenceModels {
		tmpl, err := Load(filepath.Join(td, "tokenizers", model))
		if err != nil {
			b.Fatal(err)
		}
		in := input
		if model == "gemma3" { // gemma3 wants strict user/assistant alternation: drop the system message's turn order issue
			in = []byte(strings.Replace(string(input), `{"content":"You are a helpful assistant.","role":"system"},`, "", 1))
		}
		if _, err := RenderJSON(tmpl, in, tmpl.BOSToken, tmpl.EOSToken); err != nil {
			b.Fatalf("%s: %v", model, err)
		}
		b.Run(model, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := RenderJSON(tmpl, in, tmpl.BOSToken, tmpl.EOSToken); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(model+"/hfjinja-node", func(b *testing.B) { benchHFJinja(b, tmpl, in) })
	}
}

// benchHFJinja times @huggingface/jinja (node) on the same rendering (see
// hfJinjaDir); the figure is node's own per-rendering time.
func benchHFJinja(b *testing.B, tmpl *Template, in []byte) {
	dir := hfJinjaDir(b)
	node, err := exec.LookPath("node")
	if err != nil {
		b.Skip("node is not installed: cannot time @huggingface/jinja side by side")
	}
	req, _ := json.Marshal(map[string]any{"template": tmpl.src, "vars": json.RawMessage(withTokens(in, tmpl)), "n": max(b.N, 50)})
	cmd := exec.Command(node, "testdata/hfjinja_bench.mjs")
	cmd.Env = append(os.Environ(), "HFJINJA_DIR="+dir)
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("node: %v", err)
	}
	ns, err := strconv.ParseFloat(string(out), 64)
	if err != nil {
		b.Fatalf("node printed %q", out)
	}
	b.ReportMetric(ns, "ns/op")
	b.ReportMetric(float64(len(in))/ns*1e3, "MB/s")
}

// withTokens adds bos_token/eos_token to a RenderJSON input, as RenderJSON does.
func withTokens(in []byte, t *Template) []byte {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(in, &m)
	bos, _ := json.Marshal(t.BOSToken)
	eos, _ := json.Marshal(t.EOSToken)
	m["bos_token"], m["eos_token"] = bos, eos
	out, _ := json.Marshal(m)
	return out
}

// BenchmarkParse parses qwen3's template (the largest of the shared ones).
func BenchmarkParse(b *testing.B) {
	td := sharedtestdata.Dir(b)
	tmpl, err := Load(filepath.Join(td, "tokenizers", "qwen3"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(tmpl.src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(tmpl.src); err != nil {
			b.Fatal(err)
		}
	}
}

package chattmpl

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

type referenceCase struct {
	Name     string          `json:"name"`
	Vars     json.RawMessage `json:"vars"`
	Rendered string          `json:"rendered"`
}

func readReference(t testing.TB, path string) []referenceCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []referenceCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c referenceCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

var referenceModels = []string{"llama3", "qwen3", "gemma3"}

// inputFromVars builds the Go API Input from a scenario's vars.
func inputFromVars(t testing.TB, vars json.RawMessage, bos, eos string) Input {
	t.Helper()
	var v struct {
		Messages            []json.RawMessage `json:"messages"`
		Tools               []json.RawMessage `json:"tools"`
		Documents           []json.RawMessage `json:"documents"`
		AddGenerationPrompt bool              `json:"add_generation_prompt"`
	}
	if err := json.Unmarshal(vars, &v); err != nil {
		t.Fatal(err)
	}
	in := Input{Tools: v.Tools, Documents: v.Documents, AddGenerationPrompt: v.AddGenerationPrompt, BOSToken: bos, EOSToken: eos}
	for _, m := range v.Messages {
		var rc struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		}
		if err := json.Unmarshal(m, &rc); err != nil {
			t.Fatal(err)
		}
		if s, ok := rc.Content.(string); ok && len(m) > 0 {
			// plain messages through Role/Content, others through Raw
			var keys map[string]json.RawMessage
			_ = json.Unmarshal(m, &keys)
			if len(keys) == 2 {
				in.Messages = append(in.Messages, Message{Role: rc.Role, Content: s})
				continue
			}
		}
		in.Messages = append(in.Messages, Message{Raw: m})
	}
	return in
}

func TestReferenceRenderings(t *testing.T) {
	td := sharedtestdata.Dir(t)
	for _, model := range referenceModels {
		t.Run(model, func(t *testing.T) {
			tmpl, err := Load(filepath.Join(td, "tokenizers", model))
			if err != nil {
				t.Fatal(err)
			}
			cases := readReference(t, filepath.Join(td, "chat_templates", model+".jsonl"))
			if len(cases) == 0 {
				t.Fatal("no reference cases")
			}
			for _, c := range cases {
				got, err := RenderJSON(tmpl, c.Vars, tmpl.BOSToken, tmpl.EOSToken)
				if err != nil {
					t.Errorf("%s/%s RenderJSON: %v", model, c.Name, err)
				} else if got != c.Rendered {
					t.Errorf("%s/%s RenderJSON:\n got %q\nwant %q", model, c.Name, got, c.Rendered)
				}
				got, err = tmpl.Render(inputFromVars(t, c.Vars, tmpl.BOSToken, tmpl.EOSToken))
				if err != nil {
					t.Errorf("%s/%s Render: %v", model, c.Name, err)
				} else if got != c.Rendered {
					t.Errorf("%s/%s Render:\n got %q\nwant %q", model, c.Name, got, c.Rendered)
				}
			}
		})
	}
}

package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

var tokenizerNames = []string{"llama2", "llama3", "qwen3", "gemma3"}

// loaded caches the real tokenizers across tests (gemma3's file is 33 MB).
var loaded sync.Map

func loadNamed(t testing.TB, name string) *Tokenizer {
	t.Helper()
	dir := filepath.Join(sharedtestdata.Dir(t), "tokenizers", name)
	if v, ok := loaded.Load(dir); ok {
		return v.(*Tokenizer)
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	loaded.Store(dir, tk)
	return tk
}

type tokCase struct {
	Text           string  `json:"text"`
	IDs            []int32 `json:"ids"`
	IDsWithSpecial []int32 `json:"ids_with_special"`
	Decoded        string  `json:"decoded"`
}

func readCases(t testing.TB, name string) []tokCase {
	t.Helper()
	path := filepath.Join(sharedtestdata.Dir(t), "tokenizers", name, "cases.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []tokCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c tokCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

// TestCases reproduces every line of cases.jsonl: ids, ids_with_special and
// decoded, plus the streaming decoder agreeing with Decode.
func TestCases(t *testing.T) {
	for _, name := range tokenizerNames {
		t.Run(name, func(t *testing.T) {
			tk := loadNamed(t, name)
			for i, c := range readCases(t, name) {
				ids := tk.Encode(c.Text, false)
				if !slices.Equal(ids, c.IDs) {
					t.Errorf("case %d %q: ids\n got %v\nwant %v", i, c.Text, ids, c.IDs)
				}
				withSpecial := tk.Encode(c.Text, true)
				if !slices.Equal(withSpecial, c.IDsWithSpecial) {
					t.Errorf("case %d %q: ids_with_special\n got %v\nwant %v", i, c.Text, withSpecial, c.IDsWithSpecial)
				}
				if got := tk.Decode(c.IDs, false); got != c.Decoded {
					t.Errorf("case %d: decoded\n got %q\nwant %q", i, got, c.Decoded)
				}
				for _, skip := range []bool{false, true} {
					for _, seq := range [][]int32{c.IDs, c.IDsWithSpecial} {
						want := tk.Decode(seq, skip)
						if got := streamAll(tk, seq, skip); got != want {
							t.Errorf("case %d skip=%v: stream\n got %q\nwant %q", i, skip, got, want)
						}
					}
				}
			}
		})
	}
}

// streamAll decodes ids one at a time, checking each piece is valid UTF-8.
func streamAll(tk *Tokenizer, ids []int32, skip bool) string {
	sd := tk.NewStreamDecoder(skip)
	var out []byte
	for _, id := range ids {
		out = append(out, sd.Add(id)...)
	}
	return string(append(out, sd.Flush()...))
}

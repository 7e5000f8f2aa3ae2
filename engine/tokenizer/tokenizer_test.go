package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

func mustParse(t *testing.T, tokJSON string, cfgJSON string) *Tokenizer {
	t.Helper()
	var cfg []byte
	if cfgJSON != "" {
		cfg = []byte(cfgJSON)
	}
	tk, err := FromJSON([]byte(tokJSON), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTinyByteLevel(t *testing.T) {
	tk := mustParse(t, string(tinyByteLevelJSON()), `{"eos_token": "<|eot|>", "bos_token": {"content": "<|eot|>"}}`)
	id := func(s string) int32 {
		v, ok := tk.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return v
	}
	// Lowest rank first: h+e (1) beats l+l (3), and then "he"+"ll" has no merge,
	// so "hell" is never formed; " the" goes Ġ+t, h+e, Ġt+he.
	if got, want := tk.Encode("hell the", false), []int32{id("he"), id("ll"), id("Ġthe")}; !slices.Equal(got, want) {
		t.Errorf("merges: got %v want %v", got, want)
	}
	// Added tokens: <|eot|> plain, <tool> with lstrip/rstrip taking the spaces around it.
	got := tk.Encode("a  <tool>  b<|eot|>", false)
	want := []int32{id("a"), 263, id("b"), 262}
	if !slices.Equal(got, want) {
		t.Errorf("added tokens: got %v want %v", got, want)
	}
	if got := tk.Encode("he", true); !slices.Equal(got, []int32{262, id("he")}) {
		t.Errorf("template: got %v", got)
	}
	if got := tk.Decode([]int32{id("hell"), id("Ġthe"), 262}, true); got != "hell the" {
		t.Errorf("decode skip special: %q", got)
	}
	if got := tk.Decode([]int32{id("hell"), 262, 99999, -1}, false); got != "hell<|eot|>" {
		t.Errorf("decode: %q", got)
	}
	if s, i, ok := tk.BOS(); !ok || s != "<|eot|>" || i != 262 {
		t.Errorf("BOS = %q %d %v", s, i, ok)
	}
	if got := tk.SpecialEOSIDs(); !slices.Equal(got, []int32{262}) {
		t.Errorf("SpecialEOSIDs = %v", got)
	}
	if tk.VocabSize() != 264 {
		t.Errorf("VocabSize = %d", tk.VocabSize())
	}
}

func TestSingleWordAndNormalizedAddedTokens(t *testing.T) {
	src := strings.Replace(string(tinyByteLevelJSON()), `"content": "<tool>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false`,
		`"content": "ell", "single_word": true, "lstrip": false, "rstrip": false, "normalized": true`, 1)
	tk := mustParse(t, src, "")
	// "ell" alone is a word: the added token; inside "hell" it is not.
	if got := tk.Encode("x ell y", false); !slices.Contains(got, 263) {
		t.Errorf("single word ell not matched: %v", got)
	}
	if got := tk.Encode("hell", false); slices.Contains(got, 263) {
		t.Errorf("ell matched inside a word: %v", got)
	}
}

func TestTinySentencePiece(t *testing.T) {
	tk := mustParse(t, tinySentencePiece, `{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizer"}`)
	// "▁hello" merges; "w" and "r" are plain; "é" and "€" fall back to bytes; "ß" is unknown.
	got := tk.Encode("hello wé€ßß", false)
	want := []int32{18, 9, 19, 4, 5, 6, 7, 8, 0}
	if !slices.Equal(got, want) {
		t.Fatalf("encode: got %v want %v", got, want)
	}
	if got := tk.Encode("hello", true); !slices.Equal(got, []int32{1, 18}) {
		t.Errorf("add_bos_token: %v", got)
	}
	if got := tk.Decode([]int32{18, 9, 19, 4, 5, 6, 7, 8}, false); got != "hello wé€" {
		t.Errorf("decode: %q", got)
	}
	// An invalid byte run decodes to one U+FFFD per byte, as in Hugging Face.
	if got := tk.Decode([]int32{18, 6, 7, 18}, false); got != "hello\uFFFD\uFFFD hello" {
		t.Errorf("invalid run: %q", got)
	}
	// add_eos_token with the Llama class rebuilds the template.
	tk2 := mustParse(t, tinySentencePiece, `{"add_bos_token": false, "add_eos_token": true, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizerFast"}`)
	if got := tk2.Encode("hello", true); !slices.Equal(got, []int32{18, 2}) {
		t.Errorf("add_eos_token: %v", got)
	}
}

func TestMetaspace(t *testing.T) {
	src := strings.Replace(tinySentencePiece,
		`"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,`,
		`"normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},`, 1)
	src = strings.Replace(src, `{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}`,
		`{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}, {"type": "Fuse"}]}`, 1)
	tk := mustParse(t, src, "")
	// "first": only the segment at the start of the text gets the "▁".
	if got := tk.Encode("hello hello", false); !slices.Equal(got, []int32{18, 18}) {
		t.Errorf("encode: %v", got)
	}
	if got := tk.Encode("hello</s>hello", false); !slices.Equal(got, []int32{18, 2, 10, 15, 17}) {
		t.Errorf("encode after a special token: %v", got)
	}
	ids := []int32{18, 18, 22, 18, 4, 5}
	if got := tk.Decode(ids, false); got != "hello hello   helloé" {
		t.Errorf("decode: %q", got)
	}
	if got := streamAll(tk, ids, false); got != tk.Decode(ids, false) {
		t.Errorf("stream %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	vocab := `{"a": 0, "b": 1, "ab": 2}`
	cases := []struct {
		tok, cfg string
		want     []string
	}{
		{`{"model": `, "", []string{"tokenizer.json", "invalid JSON"}},
		{`{"added_tokens": 5, "model": {"vocab": {}}}`, "", []string{"added_tokens"}},
		{`{"normalizer": null}`, "", []string{`"model"`, "missing"}},
		{`{"model": {"type": "WordPiece", "vocab": {}}}`, "", []string{`"model.type"`, "WordPiece"}},
		{`{"model": {"type": "BPE"}}`, "", []string{`"model.vocab"`}},
		{`{"model": {"type": "BPE", "vocab": {"a": "zero"}}}`, "", []string{"model.vocab"}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `, "merges": ["ab"]}}`, "", []string{`"model.merges[0]"`, "no space"}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `, "merges": [["a", "c"]]}}`, "", []string{`"model.merges[0]"`, `"c"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `, "merges": [["b", "a"]]}}`, "", []string{`"model.merges[0]"`, `"ba"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `, "unk_token": "<unk>"}}`, "", []string{`"model.unk_token"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "BertPreTokenizer"}]}}`, "", []string{`"pre_tokenizer.pretokenizers[1].type"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}}`, "", []string{`"pre_tokenizer.pattern.Regex"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}}`, "", []string{`"pre_tokenizer.behavior"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "normalizer": {"type": "Precompiled"}}`, "", []string{`"normalizer.type"`, "Precompiled"}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "decoder": {"no": "type"}}`, "", []string{`"decoder.type"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}}}`, "", []string{`"post_processor.single[0]"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}}`, `{"add_bos_token": true, "bos_token": "<s>", "tokenizer_class": "LlamaTokenizerFast"}`, []string{"tokenizer_config.json", `"bos_token"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}}`, `{"eos_token": 7}`, []string{"tokenizer_config.json", `"eos_token"`}},
		{`{"model": {"type": "BPE", "vocab": ` + vocab + `}}`, `{"bos_token": `, []string{"tokenizer_config.json", "invalid JSON"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(c.tok), 0o644)
		if c.cfg != "" {
			os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(c.cfg), 0o644)
		}
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: no error", c.tok)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %s", c.tok, err, w)
			}
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error %q does not name the file's path", err)
		}
	}
	for content, want := range map[string]string{
		"":   "empty",
		"  ": "empty",
		"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 9\n": "Git LFS pointer",
	} {
		if _, err := FromJSON([]byte(content), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", content, err, want)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "tokenizer.json: not found") {
		t.Errorf("missing file: %v", err)
	}
}

// TestSlowReaderAgrees runs the cases with the encoding/json reader, which the
// fast reader must match (llama2: "a b" merges; qwen3: ["a", "b"] pairs).
func TestSlowReaderAgrees(t *testing.T) {
	for _, name := range []string{"llama2", "qwen3"} {
		dir := filepath.Join(sharedtestdata.Dir(t), "tokenizers", name)
		data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
		slow, err := parseWith("tokenizer.json", data, "tokenizer_config.json", cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		fast := loadNamed(t, name)
		if slow.VocabSize() != fast.VocabSize() || len(slow.model.merges) != len(fast.model.merges) {
			t.Fatalf("%s: slow reader vocab %d merges %d, fast %d %d", name, slow.VocabSize(), len(slow.model.merges), fast.VocabSize(), len(fast.model.merges))
		}
		for _, c := range readCases(t, name) {
			if got := slow.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
				t.Errorf("%s %q: slow reader gives %v", name, c.Text, got)
			}
		}
	}
}

func TestSpecialTokens(t *testing.T) {
	for _, c := range []struct {
		name     string
		eos      []int32
		bos, eot string
	}{
		{"llama2", []int32{2}, "<s>", "</s>"},
		{"llama3", []int32{128001, 128009}, "<|begin_of_text|>", "<|end_of_text|>"},
		{"qwen3", []int32{151643, 151645}, "", "<|im_end|>"},
		{"gemma3", []int32{1, 106}, "<bos>", "<end_of_turn>"},
	} {
		tk := loadNamed(t, c.name)
		if got := tk.SpecialEOSIDs(); !slices.Equal(got, c.eos) {
			t.Errorf("%s: SpecialEOSIDs = %v, want %v", c.name, got, c.eos)
		}
		if s, _, ok := tk.BOS(); s != c.bos || ok != (c.bos != "") {
			t.Errorf("%s: BOS = %q %v", c.name, s, ok)
		}
		if s, _, ok := tk.EOS(); s != c.eot || !ok {
			t.Errorf("%s: EOS = %q %v", c.name, s, ok)
		}
	}
}

// TestStreamEmitsEarly checks the streaming decoder hands out text as soon as
// characters are whole, not only at Flush.
func TestStreamEmitsEarly(t *testing.T) {
	for _, name := range tokenizerNames {
		tk := loadNamed(t, name)
		text := "emoji 😀🎉 and 日本語 text"
		ids := tk.Encode(text, false)
		sd := tk.NewStreamDecoder(false)
		var got strings.Builder
		for _, id := range ids {
			piece := sd.Add(id)
			got.WriteString(piece)
		}
		before := got.String()
		got.WriteString(sd.Flush())
		if got.String() != text {
			t.Errorf("%s: stream gave %q", name, got.String())
		}
		if !strings.HasPrefix(before, "emoji 😀🎉 and 日本語") {
			t.Errorf("%s: before Flush only %q was out", name, before)
		}
	}
}

// TestConcurrentEncode shares one tokenizer (and its merge cache) between
// goroutines; run with -race.
func TestConcurrentEncode(t *testing.T) {
	want := loadNamed(t, "llama2").Encode(englishText(4000), true)
	tk, err := Load(filepath.Join(sharedtestdata.Dir(t), "tokenizers", "llama2")) // empty cache
	if err != nil {
		t.Fatal(err)
	}
	text := englishText(4000)
	done := make(chan []int32)
	for g := 0; g < 4; g++ {
		go func() { done <- tk.Encode(text, true) }()
	}
	for g := 0; g < 4; g++ {
		if got := <-done; !slices.Equal(got, want) {
			t.Fatal("concurrent Encode gave different ids")
		}
	}
}

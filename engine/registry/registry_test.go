package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/safetensors"
)

const tinyConfig = `{"model_type":"llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
	"num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10, "max_position_embeddings": 512, "tie_word_embeddings": true}`

// tinyFiles returns the files of a valid one-layer llama (F16 weights,
// tied embeddings); mutate lets a test break one tensor's shape.
func tinyFiles(t *testing.T, config string, mutate map[string][]int) map[string][]byte {
	t.Helper()
	const H, I, V, hd, nh, nkv = 8, 16, 10, 4, 2, 1
	shapes := []struct {
		name  string
		shape []int
	}{
		{"model.embed_tokens.weight", []int{V, H}},
		{"model.norm.weight", []int{H}},
		{"model.layers.0.input_layernorm.weight", []int{H}},
		{"model.layers.0.post_attention_layernorm.weight", []int{H}},
		{"model.layers.0.self_attn.q_proj.weight", []int{nh * hd, H}},
		{"model.layers.0.self_attn.k_proj.weight", []int{nkv * hd, H}},
		{"model.layers.0.self_attn.v_proj.weight", []int{nkv * hd, H}},
		{"model.layers.0.self_attn.o_proj.weight", []int{H, nh * hd}},
		{"model.layers.0.mlp.gate_proj.weight", []int{I, H}},
		{"model.layers.0.mlp.up_proj.weight", []int{I, H}},
		{"model.layers.0.mlp.down_proj.weight", []int{H, I}},
	}
	var ts []safetensors.NewTensor
	for _, s := range shapes {
		sh := s.shape
		if m, ok := mutate[s.name]; ok {
			sh = m
		}
		n := 2
		for _, d := range sh {
			n *= d
		}
		ts = append(ts, safetensors.NewTensor{Name: s.name, DType: safetensors.F16, Shape: sh, Data: make([]byte, n)})
	}
	tmp := filepath.Join(t.TempDir(), "w.safetensors")
	if err := safetensors.WriteFile(tmp, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"config.json":           []byte(config),
		"model.safetensors":     w,
		"tokenizer_config.json": []byte(`{}`),
	}
}

func writeDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeHub lays files out as huggingface_hub does: content in blobs/ named
// by hash, snapshots/COMMIT/NAME relative symlinks to them, refs/main.
func writeHub(t *testing.T, cache, repo, commit string, files map[string][]byte, setMain bool) string {
	t.Helper()
	repoDir := RepoCacheDir(cache, repo)
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, d := range []string{filepath.Join(repoDir, "blobs"), filepath.Join(repoDir, "refs"), snap} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range files {
		sum := sha256.Sum256(b)
		blob := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(repoDir, "blobs", blob), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	if setMain {
		if err := os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

func sizeOf(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(root, "hf", "hub")
	models := filepath.Join(root, "models")
	files := tinyFiles(t, tinyConfig, nil)
	c1 := "1111111111111111111111111111111111111111"
	c2 := "2222222222222222222222222222222222222222"
	snapMain := writeHub(t, cache, "org/tiny", c1, files, true)
	snapOld := writeHub(t, cache, "org/tiny", c2, files, false)
	os.WriteFile(filepath.Join(RepoCacheDir(cache, "org/tiny"), "refs", "v1"), []byte(c2+"\n"), 0o644)
	writeDir(t, filepath.Join(models, "mine"), files)
	writeDir(t, filepath.Join(models, "team", "shared"), files)
	opts := Options{ModelsDir: models, HFHome: filepath.Join(root, "hf")}

	for ref, want := range map[string]string{
		"org/tiny":                     snapMain,
		"org/tiny@main":                snapMain,
		"org/tiny@v1":                  snapOld,
		"org/tiny@" + c2:               snapOld,
		"org/tiny@2222222":             snapOld,
		"mine":                         filepath.Join(models, "mine"),
		"team/shared":                  filepath.Join(models, "team", "shared"),
		filepath.Join(models, "mine"):  filepath.Join(models, "mine"),
		filepath.Join(models, "mine/"): filepath.Join(models, "mine"),
		snapMain:                       snapMain,
	} {
		got, err := Resolve(ref, opts)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if got != want {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got, want)
		}
	}

	// HF_HUB_CACHE from the environment when no option is given.
	t.Setenv("HF_HUB_CACHE", cache)
	if got, err := Resolve("org/tiny", Options{}); err != nil || got != snapMain {
		t.Errorf("env HF_HUB_CACHE: %s %v", got, err)
	}
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", filepath.Join(root, "hf"))
	if got, err := Resolve("org/tiny", Options{}); err != nil || got != snapMain {
		t.Errorf("env HF_HOME: %s %v", got, err)
	}

	// Not found: every place is named, and pull is suggested.
	_, err := Resolve("org/absent", opts)
	msg := fmt.Sprint(err)
	for _, want := range []string{`model "org/absent" not found`, filepath.Join(models, "org", "absent"), RepoCacheDir(cache, "org/absent"), "impetus pull org/absent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("not-found error lacks %q:\n%s", want, msg)
		}
	}
	_, err = Resolve("org/tiny@v9", opts)
	if msg := fmt.Sprint(err); !strings.Contains(msg, "no refs/v9") || !strings.Contains(msg, "impetus pull org/tiny@v9") {
		t.Errorf("bad revision: %s", msg)
	}
	if _, err := Resolve("./nowhere", opts); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := Resolve(filepath.Join(models, "mine", "config.json"), opts); err == nil || !strings.Contains(err.Error(), "not a model directory") {
		t.Errorf("file: %v", err)
	}
	if _, err := Resolve("", opts); err == nil || !strings.Contains(err.Error(), "-m MODEL") {
		t.Errorf("empty: %v", err)
	}
	// A ref escaping the models dir is not looked up there.
	if _, err := Resolve("nothing-here", opts); err == nil || strings.Contains(err.Error(), "impetus pull nothing-here") {
		t.Errorf("plain name: %v", err)
	}
	// refs/main pointing at a missing snapshot says so.
	writeHub(t, cache, "org/dangling", c1, files, true)
	os.RemoveAll(filepath.Join(RepoCacheDir(cache, "org/dangling"), "snapshots"))
	if _, err := Resolve("org/dangling", opts); err == nil || !strings.Contains(err.Error(), "refs/main names commit") {
		t.Errorf("dangling: %v", err)
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(root, "hub")
	models := filepath.Join(root, "models")
	good := tinyFiles(t, tinyConfig, nil)
	c1 := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

	writeHub(t, cache, "org/tiny", c1, good, true)
	writeDir(t, filepath.Join(models, "mine"), good)
	// tokenizer-only: not a model, silently skipped
	writeHub(t, cache, "org/tok-only", c1, map[string][]byte{"tokenizer.json": []byte("{}")}, true)
	writeDir(t, filepath.Join(models, "toks"), map[string][]byte{"tokenizer.json": []byte("{}")})
	// datasets are not models
	os.MkdirAll(filepath.Join(cache, "datasets--org--data", "snapshots"), 0o755)

	// broken entries: each skipped with a warning naming the problem
	badCfg := tinyFiles(t, `{"model_type":"llama", "hidden_size": 0}`, nil)
	writeDir(t, filepath.Join(models, "bad-config"), badCfg)
	unknown := tinyFiles(t, strings.Replace(tinyConfig, `"llama"`, `"bert"`, 1), nil)
	writeHub(t, cache, "org/bert", c1, unknown, true)
	trunc := tinyFiles(t, tinyConfig, nil)
	trunc["model.safetensors"] = trunc["model.safetensors"][:len(trunc["model.safetensors"])-10]
	writeDir(t, filepath.Join(models, "truncated"), trunc)
	misshaped := tinyFiles(t, tinyConfig, map[string][]int{"model.layers.0.mlp.up_proj.weight": {12, 8}})
	writeDir(t, filepath.Join(models, "misshaped"), misshaped)
	noWeights := map[string][]byte{"config.json": []byte(tinyConfig)}
	writeDir(t, filepath.Join(models, "no-weights"), noWeights)

	entries, warnings := List(Options{ModelsDir: models, HubCache: cache})
	if len(entries) != 2 {
		t.Fatalf("entries %+v", entries)
	}
	hf, local := entries[1], entries[0]
	if hf.ID != "org/tiny" || hf.Source != SourceHFCache || local.ID != "mine" || local.Source != SourceModelsDir {
		t.Fatalf("entries %+v", entries)
	}
	for _, e := range entries {
		// embed 80 + norms 24 + q/o 128 + k/v 64 + mlp 384
		if e.Architecture != "llama" || e.Params != 80+24+128+64+384 || e.DType != "F16" || e.Quantization != "" || e.ContextLength != 512 {
			t.Errorf("entry %+v", e)
		}
		if e.SizeBytes != sizeOf(good) {
			t.Errorf("%s: size %d, want %d (symlinks followed)", e.ID, e.SizeBytes, sizeOf(good))
		}
	}
	want := map[string]string{
		"bad-config": "hidden_size must be > 0",
		"org/bert":   `model_type "bert" is not supported`,
		"truncated":  "truncated",
		"misshaped":  `tensor "model.layers.0.mlp.up_proj.weight" has shape [12 8] but config.json implies [16 8]`,
		"no-weights": "no weights found",
	}
	if len(warnings) != len(want) {
		t.Errorf("got %d warnings, want %d: %v", len(warnings), len(want), warnings)
	}
	for id, w := range want {
		found := false
		for _, err := range warnings {
			if strings.Contains(err.Error(), "skipping "+id+":") && strings.Contains(err.Error(), w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning for %s containing %q in %v", id, w, warnings)
		}
	}

	// Missing places hold no models and are not errors.
	entries, warnings = List(Options{ModelsDir: filepath.Join(root, "none"), HubCache: filepath.Join(root, "none2")})
	if len(entries) != 0 || len(warnings) != 0 {
		t.Errorf("empty: %v %v", entries, warnings)
	}
}

func TestListWithoutRefsMain(t *testing.T) {
	cache := t.TempDir()
	good := tinyFiles(t, tinyConfig, nil)
	c1 := "1111111111111111111111111111111111111111"
	c2 := "2222222222222222222222222222222222222222"
	writeHub(t, cache, "org/a", c1, good, false)
	writeHub(t, cache, "org/a", c2, good, false)
	entries, warnings := List(Options{HubCache: cache})
	if len(warnings) != 0 || len(entries) != 2 || entries[0].ID != "org/a@"+c1 || entries[1].ID != "org/a@"+c2 {
		t.Fatalf("%+v %v", entries, warnings)
	}
	// each listed id resolves to its snapshot
	for _, e := range entries {
		if got, err := Resolve(e.ID, Options{HubCache: cache}); err != nil || got != e.Path {
			t.Errorf("Resolve(%s) = %s, %v", e.ID, got, err)
		}
	}
	// two snapshots and no refs/main: the bare id is ambiguous
	if _, err := Resolve("org/a", Options{HubCache: cache}); err == nil {
		t.Error("ambiguous bare id resolved")
	}
}

func TestSharedModelsList(t *testing.T) {
	dir, _ := os.Getwd()
	for !fileExists(filepath.Join(dir, "go.mod")) {
		if filepath.Dir(dir) == dir {
			t.Skip("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
	shared := filepath.Join(dir, "..", "shared", "testdata", "models")
	if !isDir(shared) {
		t.Skipf("shared test models absent: %s", shared)
	}
	entries, warnings := List(Options{ModelsDir: shared, HubCache: filepath.Join(t.TempDir(), "none")})
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	got := map[string]Entry{}
	for _, e := range entries {
		got[e.ID] = e
	}
	for id, quant := range map[string]string{"tiny-llama-bf16": "", "tiny-llama3rope-f32": "", "tiny-qwen2-f32-q4": "4bit/g32", "tiny-qwen3-f16-q8": "8bit/g64"} {
		e, ok := got[id]
		if !ok {
			t.Errorf("%s not listed", id)
			continue
		}
		if e.Quantization != quant || e.Params < 4_000_000 || e.SizeBytes <= 0 {
			t.Errorf("%+v", e)
		}
		if p, err := Resolve(id, Options{ModelsDir: shared}); err != nil || p != e.Path {
			t.Errorf("Resolve(%s) = %s %v", id, p, err)
		}
	}
}

package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/impetus-llm/impetus/engine/modelfile"
)

// Entry is one model found on this machine.
type Entry struct {
	ID            string `json:"id"`           // what to pass as -m: hub id or name in the models dir
	Source        string `json:"source"`       // "hf-cache" or "models-dir"
	Path          string `json:"path"`         // the model directory
	Architecture  string `json:"architecture"` // config.json model_type
	Params        int64  `json:"params"`       // logical parameter count
	Quantization  string `json:"quantization"` // "4bit/g64", "" when dense
	DType         string `json:"dtype"`        // dominant float dtype of the weights
	SizeBytes     int64  `json:"size_bytes"`   // on disk, HF cache symlinks followed to their blobs
	ContextLength int    `json:"context_length"`
}

// Source values of Entry.
const (
	SourceHFCache   = "hf-cache"
	SourceModelsDir = "models-dir"
)

// List finds every model in the models directory and the Hugging Face
// cache. A directory without config.json (e.g. tokenizer files only) is not
// a model and is skipped silently; a broken model (bad config, unreadable or
// mis-shaped weights, unsupported architecture) is skipped with a warning.
// Missing directories are not errors: they just hold no models.
func List(opts Options) ([]Entry, []error) {
	var entries []Entry
	var warnings []error
	add := func(id, source, dir string) {
		e, err := describe(id, source, dir)
		if err != nil {
			warnings = append(warnings, fmt.Errorf("skipping %s: %w", id, err))
			return
		}
		entries = append(entries, e)
	}
	if opts.ModelsDir != "" {
		md := expandHome(opts.ModelsDir)
		for _, c := range findModelDirs(md, 3, &warnings) {
			rel, _ := filepath.Rel(md, c)
			add(filepath.ToSlash(rel), SourceModelsDir, c)
		}
	}
	if cache := opts.HubCacheDir(); cache != "" {
		for _, c := range hubModels(cache, &warnings) {
			add(c.id, SourceHFCache, c.dir)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].ID != entries[j].ID {
			return entries[i].ID < entries[j].ID
		}
		return entries[i].Source < entries[j].Source
	})
	return entries, warnings
}

// describe opens one model directory and summarises it.
func describe(id, source, dir string) (Entry, error) {
	d, err := modelfile.Open(dir)
	if err != nil {
		return Entry{}, err
	}
	set, err := d.OpenWeights()
	if err != nil {
		return Entry{}, err
	}
	defer set.Close()
	if err := d.Config.CheckWeights(set); err != nil {
		return Entry{}, err
	}
	s := d.Config.Summarize(set)
	size, err := diskSize(dir)
	if err != nil {
		return Entry{}, err
	}
	return Entry{
		ID: id, Source: source, Path: dir,
		Architecture:  d.Config.ModelType,
		Params:        s.Params,
		Quantization:  s.Quantization,
		DType:         s.DType,
		SizeBytes:     size,
		ContextLength: d.Config.MaxPositionEmbeddings,
	}, nil
}

// diskSize sums the sizes of the files in dir, following symlinks (the HF
// cache links snapshot files to blobs) and counting each target once.
func diskSize(dir string) (int64, error) {
	var total int64
	seen := map[string]bool{}
	// WalkDir does not follow a symlinked root (a model dir linked into
	// the models directory); start from its target.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows the link to the blob
		if err != nil {
			return fmt.Errorf("%s: %w (broken link into the Hugging Face cache?)", p, err)
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		key := p
		if de.Type()&fs.ModeSymlink != 0 {
			if t, err := filepath.EvalSymlinks(p); err == nil {
				key = t
			}
		}
		if !seen[key] {
			seen[key] = true
			total += st.Size()
		}
		return nil
	})
	return total, err
}

// findModelDirs returns directories under root (up to depth levels, so
// NAME and ORG/NAME both work) that hold a config.json. It does not descend
// into a model directory.
func findModelDirs(root string, depth int, warnings *[]error) []string {
	var out []string
	ents, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*warnings = append(*warnings, fmt.Errorf("models directory %s: %w", root, err))
		}
		return nil
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue // partial downloads, temp dirs
		}
		p := filepath.Join(root, e.Name())
		if !isDir(p) { // follows symlinked model dirs
			continue
		}
		if fileExists(filepath.Join(p, modelfile.ConfigFile)) {
			out = append(out, p)
			continue
		}
		if depth > 1 {
			out = append(out, findModelDirs(p, depth-1, warnings)...)
		}
	}
	return out
}

type hubCandidate struct{ id, dir string }

// hubModels lists the model repositories of a hub cache, one snapshot each:
// the one refs/main names, else (no refs/main) every snapshot as ORG/NAME@COMMIT.
func hubModels(cache string, warnings *[]error) []hubCandidate {
	ents, err := os.ReadDir(cache)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*warnings = append(*warnings, fmt.Errorf("Hugging Face cache %s: %w", cache, err))
		}
		return nil
	}
	var out []hubCandidate
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "models--")
		if !ok || !e.IsDir() {
			continue // datasets--, spaces--, .locks
		}
		org, model, ok := strings.Cut(name, "--")
		if !ok {
			continue
		}
		repo := org + "/" + model
		repoDir := filepath.Join(cache, e.Name())
		if b, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
			commit := strings.TrimSpace(string(b))
			snap := filepath.Join(repoDir, "snapshots", commit)
			if !isDir(snap) {
				*warnings = append(*warnings, fmt.Errorf("skipping %s: refs/main names commit %q but %s is missing; re-run impetus pull %s", repo, commit, snap, repo))
				continue
			}
			if fileExists(filepath.Join(snap, modelfile.ConfigFile)) {
				out = append(out, hubCandidate{repo, snap})
			}
			continue
		}
		snaps, _ := os.ReadDir(filepath.Join(repoDir, "snapshots"))
		var dirs []string
		for _, s := range snaps {
			if s.IsDir() && fileExists(filepath.Join(repoDir, "snapshots", s.Name(), modelfile.ConfigFile)) {
				dirs = append(dirs, s.Name())
			}
		}
		for _, d := range dirs {
			id := repo
			if len(dirs) > 1 {
				id += "@" + d // Resolve accepts the commit as revision
			}
			out = append(out, hubCandidate{id, filepath.Join(repoDir, "snapshots", d)})
		}
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// IndexFile is the name of the shard index Hugging Face writes beside sharded weights.
const IndexFile = "model.safetensors.index.json"

// SingleFile is the name of unsharded weights.
const SingleFile = "model.safetensors"

// Set is every weight file of one model directory, seen as one namespace of tensors.
type Set struct {
	dir    string
	files  []*File
	byName map[string]*Tensor
}

type shardIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenDir opens the weights of a model directory: the shards listed by
// model.safetensors.index.json if present, else model.safetensors, else
// every *.safetensors file. A tensor name appearing in two files, or listed
// in the index but absent from its shard, is an error naming both.
func OpenDir(dir string) (*Set, error) {
	s := &Set{dir: dir, byName: map[string]*Tensor{}}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	indexPath := filepath.Join(dir, IndexFile)
	raw, err := os.ReadFile(indexPath)
	switch {
	case err == nil:
		if err := s.openIndexed(indexPath, raw); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		paths, err := weightFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			if err := s.add(p); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	ok = true
	return s, nil
}

func weightFiles(dir string) ([]string, error) {
	single := filepath.Join(dir, SingleFile)
	if st, err := os.Stat(single); err == nil && !st.IsDir() {
		return []string{single}, nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		return nil, fmt.Errorf("%s: no weights found (looked for %s, %s and *.safetensors)", dir, IndexFile, SingleFile)
	}
	return paths, nil
}

func (s *Set) openIndexed(indexPath string, raw []byte) error {
	var idx shardIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("%s: invalid JSON: %v", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("%s: weight_map is missing or empty", indexPath)
	}
	shards := map[string]bool{}
	for name, shard := range idx.WeightMap {
		// The index must only point at files inside the model directory.
		if !filepath.IsLocal(shard) {
			return fmt.Errorf("%s: weight_map[%q] = %q is not a file inside %s", indexPath, name, shard, s.dir)
		}
		shards[shard] = true
	}
	ordered := make([]string, 0, len(shards))
	for sh := range shards {
		ordered = append(ordered, sh)
	}
	sort.Strings(ordered)
	for _, sh := range ordered {
		p := filepath.Join(s.dir, sh)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: shard %s listed in weight_map: %w", indexPath, sh, err)
		}
		if err := s.add(p); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(idx.WeightMap))
	for n := range idx.WeightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		shard := filepath.Join(s.dir, idx.WeightMap[name])
		t, ok := s.byName[name]
		if !ok || t.File != shard {
			if ok {
				return fmt.Errorf("%s: tensor %q is listed in shard %s but found in %s", indexPath, name, shard, t.File)
			}
			return fmt.Errorf("%s: tensor %q is listed in shard %s but that file does not contain it", indexPath, name, shard)
		}
	}
	return nil
}

func (s *Set) add(path string) error {
	f, err := Open(path)
	if err != nil {
		return err
	}
	s.files = append(s.files, f)
	for _, t := range f.Tensors() {
		if prev, dup := s.byName[t.Name]; dup {
			return fmt.Errorf("%s: tensor %q is also in %s", path, t.Name, prev.File)
		}
		s.byName[t.Name] = t
	}
	return nil
}

// Dir is the model directory the set was opened from.
func (s *Set) Dir() string { return s.dir }

// Files are the open weight files, in load order.
func (s *Set) Files() []*File { return s.files }

// Tensor looks a tensor up by name across all shards.
func (s *Set) Tensor(name string) (*Tensor, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// Names returns every tensor name, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close unmaps every file; the first error is returned.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}

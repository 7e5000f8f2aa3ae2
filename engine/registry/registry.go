// Package registry turns model references into model directories and lists
// the models on this machine. A reference is, in the order tried:
//
//  1. a path to an existing directory;
//  2. a name inside impetus' own models directory (Options.ModelsDir);
//  3. a Hugging Face hub id ORG/NAME[@REVISION] found in the Hugging Face
//     cache, whose layout is models--ORG--NAME/{refs/REV, snapshots/COMMIT/}.
package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Options says where to look. Empty fields fall back to the environment.
type Options struct {
	ModelsDir string // impetus' own models directory; "" = none
	HFHome    string // Hugging Face home; its hub/ is the cache. "" = $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub
	HubCache  string // the hub cache itself, overriding HFHome and the environment
}

// HubCacheDir is the Hugging Face hub cache these options select.
func (o Options) HubCacheDir() string {
	switch {
	case o.HubCache != "":
		return expandHome(o.HubCache)
	case o.HFHome != "":
		return filepath.Join(expandHome(o.HFHome), "hub")
	}
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(expandHome(d), "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// hubIDPattern is the hub's repository id syntax: ORG/NAME.
var hubIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ParseHubID splits "ORG/NAME[@REV]"; ok is false when ref is not of that form.
// rev is "" when not given.
func ParseHubID(ref string) (repo, rev string, ok bool) {
	repo, rev, _ = strings.Cut(ref, "@")
	if !hubIDPattern.MatchString(repo) || strings.Contains(repo, "..") {
		return "", "", false
	}
	if strings.Contains(rev, "..") || strings.ContainsAny(rev, `/\`) && !strings.HasPrefix(rev, "refs/") {
		return "", "", false
	}
	return repo, rev, true
}

// RepoCacheDir is the cache folder of hub repository ORG/NAME.
func RepoCacheDir(cache, repo string) string {
	return filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// NotFoundError is returned by Resolve when no place holds the model.
type NotFoundError struct {
	Ref    string
	Looked []string // every place tried, with why it did not match
	HubID  bool     // ref is a hub id: `impetus pull` can fetch it
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %q not found; looked in:", e.Ref)
	for _, l := range e.Looked {
		b.WriteString("\n  - " + l)
	}
	if e.HubID {
		repo, rev, _ := ParseHubID(e.Ref)
		pull := repo
		if rev != "" {
			pull += "@" + rev
		}
		fmt.Fprintf(&b, "\ndownload it with: impetus pull %s", pull)
	} else {
		b.WriteString("\ngive a model directory, a name in the models directory, or a hub id ORG/NAME (download one with `impetus pull ORG/NAME`)")
	}
	return b.String()
}

// Resolve returns the directory of the model ref names. The directory is
// not validated as a model (a tokenizer-only directory resolves too);
// modelfile.Open does that.
func Resolve(ref string, opts Options) (string, error) {
	if strings.TrimSpace(ref) == "" {
		return "", errors.New("no model given: pass -m MODEL (a directory, a hub id ORG/NAME, or a name in the models directory) or set model in the config file")
	}
	nf := &NotFoundError{Ref: ref}

	// 1. A directory path.
	p := expandHome(ref)
	st, err := os.Stat(p)
	switch {
	case err == nil && st.IsDir():
		return filepath.Abs(p)
	case err == nil:
		return "", fmt.Errorf("%s is a file, not a model directory (a model is a directory holding config.json and *.safetensors)", p)
	case looksLikePath(ref):
		// An explicit path that does not exist: the other places cannot hold it.
		return "", fmt.Errorf("model directory %s: %w", p, err)
	default:
		nf.Looked = append(nf.Looked, fmt.Sprintf("%s (no such directory)", p))
	}

	// 2. impetus' models directory.
	if opts.ModelsDir != "" {
		md := expandHome(opts.ModelsDir)
		if filepath.IsLocal(ref) {
			cand := filepath.Join(md, ref)
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand, nil
			}
			nf.Looked = append(nf.Looked, fmt.Sprintf("%s (models directory: no such model)", cand))
		}
	}

	// 3. The Hugging Face cache.
	repo, rev, ok := ParseHubID(ref)
	if ok {
		nf.HubID = true
		cache := opts.HubCacheDir()
		dir, why := resolveHub(cache, repo, rev)
		if dir != "" {
			return dir, nil
		}
		nf.Looked = append(nf.Looked, why)
	}
	return "", nf
}

// looksLikePath reports whether ref can only be meant as a file system path.
func looksLikePath(ref string) bool {
	return filepath.IsAbs(ref) || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") || strings.HasPrefix(ref, "~") || ref == "." || ref == ".."
}

// resolveHub finds the snapshot of repo at rev ("" = main) in the cache. On
// failure it returns "" and a description of where it looked.
func resolveHub(cache, repo, rev string) (dir, why string) {
	repoDir := RepoCacheDir(cache, repo)
	if st, err := os.Stat(repoDir); err != nil || !st.IsDir() {
		return "", fmt.Sprintf("%s (Hugging Face cache: not downloaded)", repoDir)
	}
	explicit := rev != ""
	if rev == "" {
		rev = "main"
	}
	snapshots := filepath.Join(repoDir, "snapshots")
	refName := strings.TrimPrefix(rev, "refs/")
	if b, err := os.ReadFile(filepath.Join(repoDir, "refs", refName)); err == nil {
		commit := strings.TrimSpace(string(b))
		snap := filepath.Join(snapshots, commit)
		if commit != "" && filepath.IsLocal(commit) && isDir(snap) {
			return snap, ""
		}
		return "", fmt.Sprintf("%s (Hugging Face cache: refs/%s names commit %q but %s is missing; re-run impetus pull)", repoDir, refName, commit, snap)
	}
	// A commit hash given directly (full, or a unique prefix of one).
	if explicit && filepath.IsLocal(rev) && !strings.Contains(rev, "/") {
		if snap := filepath.Join(snapshots, rev); isDir(snap) {
			return snap, ""
		}
		if len(rev) >= 7 {
			var match []string
			ents, _ := os.ReadDir(snapshots)
			for _, e := range ents {
				if e.IsDir() && strings.HasPrefix(e.Name(), rev) {
					match = append(match, e.Name())
				}
			}
			if len(match) == 1 {
				return filepath.Join(snapshots, match[0]), ""
			}
		}
	}
	// No refs/main (a cache copied by hand, or written by an old tool):
	// a single snapshot is unambiguous.
	if !explicit {
		ents, _ := os.ReadDir(snapshots)
		var dirs []string
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		if len(dirs) == 1 {
			return filepath.Join(snapshots, dirs[0]), ""
		}
	}
	return "", fmt.Sprintf("%s (Hugging Face cache: no refs/%s and no snapshots/%s)", repoDir, refName, rev)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Package hub downloads model repositories from the Hugging Face hub into the
// Hugging Face cache layout, so that impetus and every other tool that reads
// that cache (transformers, mlx-lm, huggingface-cli) see the same files:
//
//	<cache>/models--ORG--NAME/blobs/<etag>                  file contents
//	<cache>/models--ORG--NAME/snapshots/<commit>/<path>     symlink → ../../blobs/<etag>
//	<cache>/models--ORG--NAME/refs/<revision>               the commit a revision names
//
// Downloads resume from <etag>.incomplete after an interruption, run several
// files in parallel and are verified before they are renamed into place: LFS
// files by their SHA-256, small files by their git blob SHA-1.
package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/impetus-llm/impetus/engine/registry"
)

// DefaultEndpoint is the public hub; HF_ENDPOINT overrides it.
const DefaultEndpoint = "https://huggingface.co"

// Client talks to one hub endpoint and writes into one cache directory.
type Client struct {
	Endpoint string       // e.g. https://huggingface.co (no trailing slash needed)
	Token    string       // HF_TOKEN, sent as a bearer token when set
	CacheDir string       // the hub cache: $HF_HUB_CACHE or $HF_HOME/hub
	HTTP     *http.Client // nil means a client with sane time-outs
	// Parallel is how many files download at once (default 4).
	Parallel int
	// Retries is how many times an interrupted file download is resumed (default 5).
	Retries int
	// Progress, when set, is called (from several goroutines, serialised) as bytes arrive.
	Progress func(Progress)
}

// Progress reports the state of a pull.
type Progress struct {
	File       string // the file that just advanced
	Done       int64  // bytes of all files present so far
	Total      int64  // bytes of all files
	FilesDone  int
	FilesTotal int
}

// FromEnv returns a client configured like the Hugging Face tools: HF_ENDPOINT,
// HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), HF_HUB_CACHE, HF_HOME.
func FromEnv() *Client {
	c := &Client{Endpoint: os.Getenv("HF_ENDPOINT"), Token: os.Getenv("HF_TOKEN"), CacheDir: CacheDir()}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Token == "" {
		c.Token = os.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	return c
}

// CacheDir is the Hugging Face hub cache directory the environment selects:
// the same place the registry looks for models.
func CacheDir() string { return registry.Options{}.HubCacheDir() }

// ParseRef splits "ORG/NAME[@REV]" into repo id and revision (default "main").
func ParseRef(ref string) (repo, revision string, err error) {
	repo, revision, ok := registry.ParseHubID(ref)
	if !ok {
		return "", "", fmt.Errorf("%q is not a hub model id: want ORG/NAME or ORG/NAME@REVISION, e.g. mlx-community/Qwen2.5-0.5B-Instruct-4bit", ref)
	}
	if revision == "" {
		revision = "main"
	}
	return repo, revision, nil
}

// RepoDir is the cache folder of a model repository.
func (c *Client) RepoDir(repo string) string { return registry.RepoCacheDir(c.CacheDir, repo) }

// remoteFile is one file of a repository as the hub lists it.
type remoteFile struct {
	Path   string
	Size   int64
	SHA256 string // LFS files
	BlobID string // git blob SHA-1, for files stored in git itself
}

// etag is the blob name the hub's own client uses: the LFS sha256, else the git blob id.
func (f remoteFile) etag() string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	return f.BlobID
}

type repoInfo struct {
	Commit string
	Files  []remoteFile
}

// apiError is a hub answer other than success, turned into advice.
func apiError(what string, resp *http.Response, haveToken bool) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail := strings.TrimSpace(string(body))
	var msg struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Error != "" {
		detail = msg.Error
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		if haveToken {
			return fmt.Errorf("%s: access denied (HTTP %d): your HF_TOKEN has no access; accept the model's terms on its hub page", what, resp.StatusCode)
		}
		return fmt.Errorf("%s: access denied (HTTP %d): the repository is gated or private; set HF_TOKEN to a token with access", what, resp.StatusCode)
	case http.StatusNotFound:
		return fmt.Errorf("%s: not found on the hub (HTTP 404): check the ORG/NAME and revision", what)
	}
	if detail != "" {
		return fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, detail)
	}
	return fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}}
}

func (c *Client) newRequest(ctx context.Context, rawURL string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "impetus")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

func (c *Client) endpoint() string { return strings.TrimRight(c.Endpoint, "/") }

// info asks the hub for the commit a revision names and the files it holds.
func (c *Client) info(ctx context.Context, repo, revision string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", c.endpoint(), repo, url.PathEscape(revision))
	req, err := c.newRequest(ctx, u)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: cannot reach the hub at %s: %w (set HF_ENDPOINT to use a mirror)", repo, revision, c.endpoint(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(repo+"@"+revision, resp, c.Token != "")
	}
	var body struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
			Size      int64  `json:"size"`
			BlobID    string `json:"blobId"`
			LFS       *struct {
				SHA256 string `json:"sha256"`
				Size   int64  `json:"size"`
			} `json:"lfs"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s@%s: the hub's file listing is not valid JSON: %w", repo, revision, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(body.SHA) {
		return nil, fmt.Errorf("%s@%s: the hub's listing has no commit sha", repo, revision)
	}
	info := &repoInfo{Commit: body.SHA}
	for _, s := range body.Siblings {
		if err := checkRepoPath(s.RFilename); err != nil {
			return nil, fmt.Errorf("%s@%s: %w", repo, revision, err)
		}
		f := remoteFile{Path: s.RFilename, Size: s.Size, BlobID: s.BlobID}
		if s.LFS != nil {
			f.SHA256, f.Size = s.LFS.SHA256, s.LFS.Size
		}
		if f.etag() == "" {
			return nil, fmt.Errorf("%s@%s: the hub lists %s without a checksum (blobs=true)", repo, revision, s.RFilename)
		}
		info.Files = append(info.Files, f)
	}
	return info, nil
}

// checkRepoPath refuses file names that would escape the snapshot directory.
func checkRepoPath(p string) error {
	clean := path.Clean(p)
	if p == "" || clean != p || path.IsAbs(p) || strings.HasPrefix(clean, "../") || clean == ".." || strings.Contains(p, "\\") {
		return fmt.Errorf("refusing unsafe file name %q in the hub listing", p)
	}
	return nil
}

// Pull downloads every file of repo at revision (files matching include, when
// non-empty) and returns the snapshot directory.
func (c *Client) Pull(ctx context.Context, repo, revision string, include func(name string) bool) (string, error) {
	info, err := c.info(ctx, repo, revision)
	if err != nil {
		return "", err
	}
	files := info.Files[:0:0]
	for _, f := range info.Files {
		if include == nil || include(f.Path) {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s@%s: no files to download", repo, revision)
	}
	repoDir := c.RepoDir(repo)
	snapshot := filepath.Join(repoDir, "snapshots", info.Commit)
	for _, d := range []string{filepath.Join(repoDir, "blobs"), snapshot, filepath.Join(repoDir, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("cache %s: %w", c.CacheDir, err)
		}
	}

	tracker := newTracker(files, c.Progress)
	parallel := c.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan remoteFile)
	errs := make(chan error, len(files))
	var wg sync.WaitGroup
	for i := 0; i < parallel && i < len(files); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				if err := c.fetchFile(ctx, repo, info.Commit, repoDir, snapshot, f, tracker); err != nil {
					errs <- err
					cancel()
				}
			}
		}()
	}
	for _, f := range files {
		select {
		case jobs <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	// The ref is written last: a snapshot is announced only once it is whole.
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(revision) {
		refFile := filepath.Join(repoDir, "refs", filepath.FromSlash(revision))
		if err := os.MkdirAll(filepath.Dir(refFile), 0o755); err != nil {
			return "", err
		}
		if err := writeFileAtomic(refFile, []byte(info.Commit)); err != nil {
			return "", err
		}
	}
	return snapshot, nil
}

// fetchFile makes snapshot/<path> a link to a verified blob, downloading it if needed.
func (c *Client) fetchFile(ctx context.Context, repo, commit, repoDir, snapshot string, f remoteFile, t *tracker) error {
	blob := filepath.Join(repoDir, "blobs", f.etag())
	link := filepath.Join(snapshot, filepath.FromSlash(f.Path))
	if st, err := os.Stat(blob); err == nil && st.Size() == f.Size {
		t.add(f.Path, f.Size, true)
		return linkBlob(blob, link)
	}
	partial := blob + ".incomplete"
	var lastErr error
	retries := c.Retries
	if retries <= 0 {
		retries = 5
	}
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 100 * time.Millisecond):
			}
		}
		lastErr = c.download(ctx, repo, commit, f, partial, t)
		if lastErr == nil {
			break
		}
		var fatal *fatalError
		if errors.As(lastErr, &fatal) || ctx.Err() != nil {
			return lastErr
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%s: download failed after %d attempts: %w (run pull again to resume)", f.Path, retries+1, lastErr)
	}
	if err := verify(partial, f); err != nil {
		os.Remove(partial)
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := os.Rename(partial, blob); err != nil {
		return err
	}
	t.add(f.Path, 0, true)
	return linkBlob(blob, link)
}

// fatalError marks a failure that retrying cannot fix (404, 401, ...).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// download appends the rest of f to partial, resuming with a Range request.
func (c *Client) download(ctx context.Context, repo, commit string, f remoteFile, partial string, t *tracker) error {
	out, err := os.OpenFile(partial, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return &fatalError{err}
	}
	defer out.Close()
	have, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return &fatalError{err}
	}
	if have > f.Size {
		// Longer than the file can be: not ours to resume.
		if err := out.Truncate(0); err != nil {
			return &fatalError{err}
		}
		have, _ = out.Seek(0, io.SeekStart)
	}
	t.setFile(f.Path, have)
	if have == f.Size {
		return nil
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", c.endpoint(), repo, commit, escapePath(f.Path))
	req, err := c.newRequest(ctx, u)
	if err != nil {
		return &fatalError{err}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range: start over.
		if err := out.Truncate(0); err != nil {
			return &fatalError{err}
		}
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			return &fatalError{err}
		}
		t.setFile(f.Path, 0)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		out.Truncate(0)
		return fmt.Errorf("server refused to resume at byte %d", have)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return &fatalError{apiError(f.Path, resp, c.Token != "")}
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				return &fatalError{fmt.Errorf("writing %s: %w", partial, err)}
			}
			t.add(f.Path, int64(n), false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	got, _ := out.Seek(0, io.SeekCurrent)
	if got != f.Size {
		return fmt.Errorf("connection closed at byte %d of %d", got, f.Size)
	}
	return out.Sync()
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// verify checks a downloaded file against the hub's checksum.
func verify(file string, f remoteFile) error {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	var h hash.Hash
	want := f.SHA256
	if want != "" {
		h = sha256.New()
	} else {
		// A git blob id: SHA-1 over "blob <size>\0" and the contents.
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", f.Size)
		want = f.BlobID
	}
	n, err := io.Copy(h, in)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("size %d, want %d", n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("checksum mismatch: got %s, want %s (the partial download was removed; pull again)", got, want)
	}
	return nil
}

// linkBlob points link at blob with a relative symlink, as the hub's client does.
func linkBlob(blob, link string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(link); err == nil && cur == rel {
		return nil
	}
	tmp := link + ".tmp-link"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// tracker adds up progress across parallel downloads.
type tracker struct {
	mu       sync.Mutex
	report   func(Progress)
	perFile  map[string]int64
	p        Progress
	lastSent time.Time
}

func newTracker(files []remoteFile, report func(Progress)) *tracker {
	t := &tracker{report: report, perFile: map[string]int64{}}
	for _, f := range files {
		t.p.Total += f.Size
	}
	t.p.FilesTotal = len(files)
	return t
}

// setFile records that a file restarts (or resumes) at n bytes.
func (t *tracker) setFile(name string, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Done += n - t.perFile[name]
	t.perFile[name] = n
}

func (t *tracker) add(name string, n int64, fileDone bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.perFile[name] += n
	t.p.Done += n
	t.p.File = name
	if fileDone {
		t.p.FilesDone++
	}
	if t.report != nil && (fileDone || time.Since(t.lastSent) > 100*time.Millisecond) {
		t.lastSent = time.Now()
		t.report(t.p)
	}
}

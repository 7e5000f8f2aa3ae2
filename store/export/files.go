package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/impetus-llm/impetus/store"
)

// Progress is told how many of total conversations are done. It may be nil.
type Progress func(done, total int)

// Export loads the conversations ids from the store and writes them to w
// as one stream in format f (one JSON document, one JSONL stream, one HTML
// page, Markdown documents one after another), in the order of ids.
//
// Loading is the slow part (SQLite queries per conversation), so it runs
// in its own goroutine ahead of the encoder, at most loadAhead
// conversations, which bounds memory however large the export.
func Export(ctx context.Context, st *store.Store, ids []string, w io.Writer, f Format, opts Options, progress Progress) error {
	enc, err := NewEncoder(w, f, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type loaded struct {
		c   *Conversation
		err error
	}
	slots := make([]chan loaded, len(ids))
	for i := range slots {
		slots[i] = make(chan loaded, 1)
	}
	ahead := make(chan struct{}, loadAhead)
	next := make(chan int)
	go func() { // hands out indexes in order, no further than loadAhead ahead
		defer close(next)
		for i := range ids {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	rows, err := conversationRows(ctx, st, ids)
	if err != nil {
		return err
	}
	for range loadWorkers {
		go func() {
			for i := range next {
				var l loaded
				if row, ok := rows[ids[i]]; ok {
					var msgs []store.Message
					if msgs, l.err = st.Messages(ctx, row.ID); l.err == nil {
						c := FromStore(row, msgs)
						l.c = &c
					}
				} else {
					l.c, l.err = Load(ctx, st, ids[i])
				}
				slots[i] <- l
			}
		}()
	}
	for i := range ids {
		var l loaded
		select {
		case l = <-slots[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-ahead
		if l.err != nil {
			return l.err
		}
		if err := enc.Encode(l.c); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return enc.Close()
}

// loadWorkers and loadAhead size Export's read-ahead. One loader, running
// ahead of the encoder, measured fastest: with two, each on its own SQLite
// connection, BenchmarkExportJSONLFromStore took 3× longer on the 2-core
// project machine for the same CPU time.
var loadWorkers = 1 // a variable so the benchmark can compare

const loadAhead = 64

// conversationRows fetches, for a large export, the conversation rows of
// ids a page of a thousand at a time instead of one query each; this
// halves the queries per conversation. Ids it does not find (prefixes,
// say) are left to Load.
func conversationRows(ctx context.Context, st *store.Store, ids []string) (map[string]*store.Conversation, error) {
	if len(ids) < 200 {
		return nil, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	rows := make(map[string]*store.Conversation, len(ids))
	cur := ""
	for {
		page, err := st.ListConversations(ctx, store.ListOptions{Limit: 1000, Cursor: cur, Archived: store.IncludeArchived})
		if err != nil {
			return nil, err
		}
		for i := range page.Conversations {
			if c := &page.Conversations[i]; want[c.ID] {
				rows[c.ID] = c
			}
		}
		if page.NextCursor == "" || len(rows) == len(want) {
			return rows, nil
		}
		cur = page.NextCursor
	}
}

// ExportFile is Export into the file path, written atomically (see
// WriteFileAtomic). An existing file is an error unless force is set.
func ExportFile(ctx context.Context, st *store.Store, ids []string, path string, f Format, opts Options, force bool, progress Progress) error {
	return WriteFileAtomic(path, force, func(w io.Writer) error {
		return Export(ctx, st, ids, w, f, opts, progress)
	})
}

// ExportDir writes one file per conversation into dir (created if missing),
// named by FileName, and returns the paths written. Before writing
// anything it checks that no target exists (unless force), so a refused
// export leaves the directory as it was.
func ExportDir(ctx context.Context, st *store.Store, ids []string, dir string, f Format, opts Options, force bool, progress Progress) ([]string, error) {
	if _, err := NewEncoder(io.Discard, f, opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, unwrapPath(err))
	}
	convs := make([]*store.Conversation, len(ids))
	paths := make([]string, len(ids))
	for i, id := range ids {
		c, err := st.GetConversation(ctx, id)
		if err != nil {
			return nil, notFound(id, err)
		}
		convs[i] = c
		paths[i] = filepath.Join(dir, FileName(c.Title, c.ID, f))
		if !force {
			if _, err := os.Lstat(paths[i]); err == nil {
				return nil, fmt.Errorf("%s already exists: use --force to overwrite, or another -o directory", paths[i])
			}
		}
	}
	var written []string
	for i, c := range convs {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		msgs, err := st.Messages(ctx, c.ID)
		if err != nil {
			return written, err
		}
		conv := FromStore(c, msgs)
		err = WriteFileAtomic(paths[i], force, func(w io.Writer) error {
			return Write(w, f, []Conversation{conv}, opts)
		})
		if err != nil {
			return written, err
		}
		written = append(written, paths[i])
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return written, nil
}

// FileName is a safe file name for a conversation: its title reduced to
// lower-case letters, digits and dashes (Unicode letters kept, at most 60
// bytes), then its id, which makes names unique, then the format's
// extension. E.g. "sorting-in-go-01JQ0FIXTURE0000000000000A.md".
func FileName(title, id string, f Format) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !ok {
			dash = b.Len() > 0
			continue
		}
		if dash {
			b.WriteByte('-')
			dash = false
		}
		if b.Len()+utf8.RuneLen(r) > 60 {
			break
		}
		b.WriteRune(r)
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "conversation"
	}
	return slug + "-" + safeID(id) + f.Ext()
}

// safeID keeps only characters that are safe in a file name; store ids are
// all safe already.
func safeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			return r
		}
		return -1
	}, id)
}

// WriteFileAtomic writes path through write into a temporary file in the
// same directory, then renames it into place, so a failed or interrupted
// export never leaves a half-written file under the target name. Without
// force an existing path is an error and is never replaced (checked before
// writing, and again at the rename by linking, which cannot overwrite).
func WriteFileAtomic(path string, force bool, write func(io.Writer) error) (err error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s already exists: use --force to overwrite", path)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory: give a file name, or use it as the output directory of a multi-conversation export", path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("cannot write %s: directory %s does not exist", path, dir)
	} else if !fi.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	// CreateTemp makes the file 0600; an export is an ordinary document.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	if force {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
		}
		return nil
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: use --force to overwrite", path)
		}
		// A file system without hard links: fall back to rename, the
		// existence check above having just passed.
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
		}
		return nil
	}
	os.Remove(tmp.Name())
	return nil
}

// unwrapPath drops the *PathError wrapper whose path (a temp file name)
// would only confuse; the caller names the real target.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

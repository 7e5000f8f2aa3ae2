package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/impetus-llm/impetus/store"
)

// ImportResult counts what an import did.
type ImportResult struct {
	Imported []string // ids of the conversations added
	Skipped  []string // ids already in the database, left as they were
}

// Import adds conversations to the store, keeping their ids, timestamps,
// branches, statuses and stats. A conversation whose id the store already
// holds is skipped, not duplicated and not overwritten: importing the same
// export twice is harmless. Each conversation is one transaction; on error
// the ones before it stay imported and the error names the failing one.
func Import(ctx context.Context, st *store.Store, convs []Conversation) (ImportResult, error) {
	var res ImportResult
	for i := range convs {
		c := normalized(&convs[i]) // a copy: the caller's slice is left alone
		upperIDs(c)
		if err := validate(c); err != nil {
			return res, err
		}
		if _, err := st.GetConversation(ctx, c.ID); err == nil {
			res.Skipped = append(res.Skipped, c.ID)
			continue
		} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrAmbiguous) {
			return res, fmt.Errorf("conversation %s: %w", c.ID, err)
		}
		sc, msgs := toStore(c)
		id, err := st.ImportConversation(ctx, sc, msgs)
		if errors.Is(err, store.ErrExists) && isConversationExists(ctx, st, c.ID) {
			// Another process imported it between the check and the insert.
			res.Skipped = append(res.Skipped, c.ID)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("conversation %s (%q): %w", c.ID, excerpt(c.Title, 40), err)
		}
		res.Imported = append(res.Imported, id)
	}
	return res, nil
}

func isConversationExists(ctx context.Context, st *store.Store, id string) bool {
	c, err := st.GetConversation(ctx, id)
	return err == nil && c.ID == id
}

// ImportFile reads an impetus JSON export or a JSONL file (see Read) and
// imports it.
func ImportFile(ctx context.Context, st *store.Store, path string) (ImportResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	return ImportReader(ctx, st, f, path)
}

// ImportReader is ImportFile for an open reader; name is used in errors.
func ImportReader(ctx context.Context, st *store.Store, r io.Reader, name string) (ImportResult, error) {
	convs, err := Read(r, name)
	if err != nil {
		return ImportResult{}, err
	}
	res, err := Import(ctx, st, convs)
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// upperIDs upper-cases a conversation's ids. The store's ids are upper-case
// and it matches ids case-insensitively by upper-casing what it is given, so
// an id written in lower case by hand would be found by no lookup; ids from
// an impetus export are unchanged.
func upperIDs(c *Conversation) {
	c.ID = strings.ToUpper(c.ID)
	c.ActiveLeafID = strings.ToUpper(c.ActiveLeafID)
	for i := range c.Messages {
		c.Messages[i].ID = strings.ToUpper(c.Messages[i].ID)
		c.Messages[i].ParentID = strings.ToUpper(c.Messages[i].ParentID)
	}
}

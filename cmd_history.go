package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/store"
)

func init() { registerCommand(newHistoryCommand) }

// openHistory opens the history database of a (--db, IMPETUS_DB or the default).
func openHistory(a *app) (*store.Store, error) {
	return store.Open(a.DBPath())
}

// historyUsage is a bad flag or argument: exit status 2, like cobra's own.
func historyUsage(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// historyJSON prints v as indented JSON followed by a newline.
func historyJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newHistoryCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: plannedCommands["history"],
		Long: `Work with the conversation history kept in the SQLite database (--db, IMPETUS_DB, or
$XDG_DATA_HOME/impetus/impetus.db). Conversation ids may be abbreviated to any unique
prefix of at least 4 characters. Every subcommand takes --json for machine-readable output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(historyList(a), historyShow(a), historySearch(a), historyRename(a), historyRm(a),
		historyFlag(a, "pin", "Pin conversations (listed first)", func(ctx context.Context, s *store.Store, id string) error { return s.SetPinned(ctx, id, true) }),
		historyFlag(a, "unpin", "Unpin conversations", func(ctx context.Context, s *store.Store, id string) error { return s.SetPinned(ctx, id, false) }),
		historyFlag(a, "archive", "Archive conversations (hidden from list and search unless --archived)", func(ctx context.Context, s *store.Store, id string) error { return s.SetArchived(ctx, id, true) }),
		historyFlag(a, "unarchive", "Restore archived conversations", func(ctx context.Context, s *store.Store, id string) error { return s.SetArchived(ctx, id, false) }),
	)
	return cmd
}

func historyTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

func historyList(a *app) *cobra.Command {
	var (
		asJSON   bool
		limit    int
		offset   int
		cursor   string
		archived bool
		only     bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List conversations: pinned first, then most recently active",
		Example: `  impetus history list
  impetus history list --limit 100 --archived
  impetus history list --json --limit 20 --cursor "$(impetus history list --json --limit 20 | jq -r .next_cursor)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return historyUsage("--limit %d: want 1..1000", limit)
			}
			if offset < 0 {
				return historyUsage("--offset %d: want 0 or more", offset)
			}
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			opts := store.ListOptions{Limit: limit, Offset: offset, Cursor: cursor, Archived: store.ExcludeArchived}
			if archived {
				opts.Archived = store.IncludeArchived
			}
			if only {
				opts.Archived = store.OnlyArchived
			}
			page, err := s.ListConversations(cmd.Context(), opts)
			if errors.Is(err, store.ErrInvalid) {
				return historyUsage("--cursor: %v", err)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return historyJSON(a.stdout, page)
			}
			if len(page.Conversations) == 0 {
				fmt.Fprintln(a.stderr, "no conversations")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUPDATED\tMSGS\tFLAGS\tTITLE")
			for _, c := range page.Conversations {
				flags := ""
				if c.Pinned {
					flags += "pinned "
				}
				if c.Archived {
					flags += "archived"
				}
				if flags == "" {
					flags = "-"
				}
				title := c.Title
				if title == "" {
					title = "(untitled)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.ID, historyTime(c.UpdatedAt), c.MessageCount, strings.TrimSpace(flags), historyCell(title, 80))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			shown := offset + len(page.Conversations)
			if page.NextCursor != "" {
				fmt.Fprintf(a.stderr, "%d of %d shown; next page: --cursor %s\n", shown, page.Total, page.NextCursor)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON: {conversations, next_cursor, total}")
	f.IntVarP(&limit, "limit", "n", 50, "conversations per page (1..1000)")
	f.IntVar(&offset, "offset", 0, "skip this many conversations")
	f.StringVar(&cursor, "cursor", "", "continue after a previous page (its next_cursor)")
	f.BoolVarP(&archived, "archived", "a", false, "include archived conversations")
	f.BoolVar(&only, "only-archived", false, "list archived conversations only")
	return cmd
}

// historyCell collapses whitespace and cuts s to n runes for table cells.
func historyCell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func historyShow(a *app) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print a conversation (the active branch; --all for every branch)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			c, err := s.GetConversation(ctx, args[0])
			if err != nil {
				return err
			}
			var msgs []store.Message
			if all {
				msgs, err = s.Messages(ctx, c.ID)
			} else {
				msgs, err = s.ActivePath(ctx, c.ID)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return historyJSON(a.stdout, struct {
					Conversation *store.Conversation `json:"conversation"`
					Messages     []store.Message     `json:"messages"`
				}{c, msgs})
			}
			// Where the shown branch has alternatives, say which one ("branch 2/3").
			branches := map[string]string{}
			if !all {
				for _, m := range msgs {
					sibs, i, err := s.Siblings(ctx, m.ID)
					if err != nil {
						return err
					}
					if len(sibs) > 1 {
						branches[m.ID] = fmt.Sprintf("branch %d/%d", i+1, len(sibs))
					}
				}
			}
			return historyPrint(a.stdout, c, msgs, all, branches)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {conversation, messages}")
	cmd.Flags().BoolVar(&all, "all", false, "every message of every branch, oldest first (with ids and parents)")
	return cmd
}

func historyPrint(w io.Writer, c *store.Conversation, msgs []store.Message, all bool, branches map[string]string) error {
	title := c.Title
	if title == "" {
		title = "(untitled)"
	}
	fmt.Fprintf(w, "# %s\n\n", title)
	fmt.Fprintf(w, "id: %s\ncreated: %s  updated: %s  messages: %d\n", c.ID, historyTime(c.CreatedAt), historyTime(c.UpdatedAt), c.MessageCount)
	if c.Model != "" {
		fmt.Fprintf(w, "model: %s\n", c.Model)
	}
	if c.Pinned || c.Archived {
		fmt.Fprintf(w, "pinned: %v  archived: %v\n", c.Pinned, c.Archived)
	}
	if len(c.Tags) > 0 {
		fmt.Fprintf(w, "tags: %s\n", strings.Join(c.Tags, ", "))
	}
	if c.SystemPrompt != "" {
		fmt.Fprintf(w, "system prompt: %s\n", c.SystemPrompt)
	}
	for _, m := range msgs {
		fmt.Fprintf(w, "\n## %s", m.Role)
		if m.Model != "" && m.Role == store.RoleAssistant {
			fmt.Fprintf(w, " (%s)", m.Model)
		}
		fmt.Fprintf(w, " · %s", historyTime(m.CreatedAt))
		if b := branches[m.ID]; b != "" {
			fmt.Fprintf(w, " · %s", b)
		}
		if all {
			fmt.Fprintf(w, " · id %s", m.ID)
			if m.ParentID != "" {
				fmt.Fprintf(w, " · parent %s", m.ParentID)
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(m.Content, "\n"))
		if st := historyStats(&m); st != "" {
			fmt.Fprintf(w, "\n[%s]\n", st)
		}
	}
	return nil
}

// historyStats is the status line under a reply: status when not complete,
// token counts and speeds when known.
func historyStats(m *store.Message) string {
	var parts []string
	switch m.Status {
	case store.StatusIncomplete:
		parts = append(parts, "incomplete (still streaming, or interrupted)")
	case store.StatusStopped:
		parts = append(parts, "stopped")
	case store.StatusError:
		parts = append(parts, "error: "+m.Error)
	}
	if m.PromptTokens != nil {
		parts = append(parts, fmt.Sprintf("prompt %d tok", *m.PromptTokens))
	}
	if m.CompletionTokens != nil {
		parts = append(parts, fmt.Sprintf("completion %d tok", *m.CompletionTokens))
	}
	if m.TTFTMs != nil {
		parts = append(parts, fmt.Sprintf("ttft %.0f ms", *m.TTFTMs))
	}
	if m.PrefillTokensPerSec != nil {
		parts = append(parts, fmt.Sprintf("prefill %.1f tok/s", *m.PrefillTokensPerSec))
	}
	if m.TokensPerSec != nil {
		parts = append(parts, fmt.Sprintf("%.1f tok/s", *m.TokensPerSec))
	}
	if m.FinishReason != "" && m.FinishReason != "stop" && m.Status == store.StatusComplete {
		parts = append(parts, "finish: "+m.FinishReason)
	}
	return strings.Join(parts, " · ")
}

func historySearch(a *app) *cobra.Command {
	var (
		asJSON   bool
		limit    int
		offset   int
		archived bool
		conv     string
	)
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Full-text search of message bodies and titles, best match first",
		Long: `Search every message and conversation title (SQLite FTS5, ranked by bm25). All words
must match; "quoted words" match as a phrase; punctuation and FTS operators are taken as
plain text. Matches are shown [like this] (bold on a terminal).`,
		Example: `  impetus history search saffron paella
  impetus history search '"exact phrase"' --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 1000 {
				return historyUsage("--limit %d: want 1..1000", limit)
			}
			if offset < 0 {
				return historyUsage("--offset %d: want 0 or more", offset)
			}
			query := strings.Join(args, " ")
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			opts := store.SearchOptions{Limit: limit, Offset: offset, ConversationID: conv}
			if archived {
				opts.Archived = store.IncludeArchived
			}
			color := !asJSON && isTerminal(a.stdout) && os.Getenv("NO_COLOR") == ""
			if color {
				opts.HighlightStart, opts.HighlightEnd = "\x1b[1m", "\x1b[22m"
			}
			hits, err := s.Search(cmd.Context(), query, opts)
			if errors.Is(err, store.ErrEmptyQuery) {
				return historyUsage("search: %q has no words to search for", query)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return historyJSON(a.stdout, struct {
					Query string            `json:"query"`
					Hits  []store.SearchHit `json:"hits"`
				}{query, hits})
			}
			if len(hits) == 0 {
				fmt.Fprintf(a.stderr, "no matches for %q\n", query)
				return nil
			}
			for _, h := range hits {
				title := h.ConversationTitle
				if title == "" {
					title = "(untitled)"
				}
				if h.MessageID == "" {
					fmt.Fprintf(a.stdout, "%s  title: %s\n", h.ConversationID, historyCell(h.Snippet, 200))
					continue
				}
				fmt.Fprintf(a.stdout, "%s  %s\n    %s · %s: %s\n", h.ConversationID, historyCell(title, 80),
					historyTime(h.CreatedAt), h.Role, historyCell(h.Snippet, 300))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON: {query, hits}")
	f.IntVarP(&limit, "limit", "n", 20, "hits to show (1..1000)")
	f.IntVar(&offset, "offset", 0, "skip this many hits")
	f.BoolVarP(&archived, "archived", "a", false, "include archived conversations")
	f.StringVarP(&conv, "conversation", "c", "", "search only this conversation (id or prefix)")
	return cmd
}

func historyRename(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rename ID TITLE...",
		Short: "Set a conversation's title",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			title := strings.TrimSpace(strings.Join(args[1:], " "))
			if title == "" {
				return historyUsage("rename: the new title is empty")
			}
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			if err := s.RenameConversation(ctx, args[0], title); err != nil {
				return err
			}
			c, err := s.GetConversation(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return historyJSON(a.stdout, c)
			}
			fmt.Fprintf(a.stdout, "%s  %s\n", c.ID, c.Title)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the renamed conversation as JSON")
	return cmd
}

func historyRm(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"delete"},
		Short:   "Delete conversations and all their messages",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			// Resolve every id first so a typo deletes nothing.
			ids := make([]string, 0, len(args))
			for _, arg := range args {
				id, err := s.ResolveConversationID(ctx, arg)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			deleted := []string{}
			for _, id := range ids {
				if err := s.DeleteConversation(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				deleted = append(deleted, id)
			}
			if asJSON {
				return historyJSON(a.stdout, struct {
					Deleted []string `json:"deleted"`
				}{deleted})
			}
			for _, id := range deleted {
				fmt.Fprintf(a.stdout, "deleted %s\n", id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"deleted": [ids]}`)
	return cmd
}

// historyFlag builds pin/unpin/archive/unarchive: one setter over several ids.
func historyFlag(a *app, name, short string, set func(context.Context, *store.Store, string) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   name + " ID...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openHistory(a)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			var out []*store.Conversation
			for _, arg := range args {
				if err := set(ctx, s, arg); err != nil {
					return err
				}
				c, err := s.GetConversation(ctx, arg)
				if err != nil {
					return err
				}
				out = append(out, c)
			}
			if asJSON {
				return historyJSON(a.stdout, out)
			}
			for _, c := range out {
				fmt.Fprintf(a.stdout, "%s  pinned: %v  archived: %v  %s\n", c.ID, c.Pinned, c.Archived, c.Title)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the changed conversations as JSON")
	return cmd
}

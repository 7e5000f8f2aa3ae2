package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/store/export"
)

func init() { registerCommand(newExportCommand) }

func newExportCommand(a *app) *cobra.Command {
	var (
		format, output, search, tag, since string
		all, force                         bool
		opts                               export.Options
	)
	var names []string
	for _, f := range export.Formats() {
		names = append(names, string(f))
	}
	cmd := &cobra.Command{
		Use:   "export [ID...]",
		Short: plannedCommands["export"],
		Long: `Export conversations from the history.

Formats (--format):
  md     Markdown, YAML front matter (title, model, dates, system prompt, settings),
         each message under a role heading; other branches after the active one
  json   every field, every branch, every stat; versioned (store/export/SCHEMA.md);
         what 'impetus import' reads back
  jsonl  chat fine-tuning data (mlx-lm LoRA, OpenAI): one {"messages":[{"role","content"}]}
         line per branch, or per conversation with --active-branch
  html   a standalone page: rendered Markdown, code blocks, light and dark

Select conversations by ID (a unique prefix is enough), or --all, --search, --tag,
--since (combined: all must hold). Without -o the export goes to stdout as one
stream. With -o FILE it goes into that file; with -o DIR (an existing directory, a
path ending in /, or a name without extension when several conversations are
selected) each conversation gets its own file named from its title and id.
Existing files are never overwritten without --force, and a failed export never
leaves a half-written file: each file is written to a temporary name and renamed.
The format defaults to the -o file's extension, else md.`,
		Example: `  impetus export 01JQ0F                          # Markdown to stdout
  impetus export --all --format json -o backup.json
  impetus export --all --format html -o site/
  impetus export --tag work --since 2026-01-01 --format jsonl --system --active-branch --skip-incomplete -o train.jsonl`,
		RunE: func(cmd *cobra.Command, ids []string) error {
			f, err := exportFormat(format, output, cmd.Flags().Changed("format"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			sel := export.Selection{IDs: ids, All: all, Search: search, Tag: tag}
			if since != "" {
				if sel.Since, err = parseSince(since, time.Now()); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			if sel.Empty() {
				return &exitError{code: 2, err: fmt.Errorf("export: say which conversations: give IDs, --all, --search QUERY, --tag TAG or --since DATE")}
			}
			if all && len(ids) > 0 {
				return &exitError{code: 2, err: fmt.Errorf("export: give IDs or --all, not both")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			st, err := store.Open(a.DBPath())
			if err != nil {
				return err
			}
			defer st.Close()
			selected, err := export.Select(ctx, st, sel)
			if err != nil {
				return err
			}
			if len(selected) == 0 {
				return fmt.Errorf("export: no conversations match")
			}
			return runExport(ctx, a, st, selected, f, opts, output, force)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "md", "output format: "+strings.Join(names, ", "))
	fl.StringVarP(&output, "output", "o", "", "output file, or directory for one file per conversation (default stdout)")
	fl.BoolVar(&force, "force", false, "overwrite existing output files")
	fl.BoolVar(&all, "all", false, "export every conversation, archived ones included")
	fl.StringVar(&search, "search", "", "only conversations whose title or messages match this full-text query")
	fl.StringVar(&tag, "tag", "", "only conversations with this tag")
	fl.StringVar(&since, "since", "", "only conversations active since DATE (2026-01-31, RFC 3339, or an age such as 36h or 7d)")
	fl.BoolVar(&opts.ActiveBranchOnly, "active-branch", false, "only the active branch of each conversation (jsonl: one line per conversation)")
	fl.BoolVar(&opts.IncludeSystem, "system", false, "jsonl: start each line with the system prompt")
	fl.BoolVar(&opts.SkipIncomplete, "skip-incomplete", false, "jsonl: drop replies that were stopped, failed or never finished")
	return cmd
}

// exportFormat picks the format: --format when given, else the -o file's
// extension when it names one, else Markdown.
func exportFormat(flag, output string, changed bool) (export.Format, error) {
	if !changed && output != "" {
		if f, err := export.ParseFormat(filepath.Ext(output)); err == nil && filepath.Ext(output) != "" {
			return f, nil
		}
	}
	f, err := export.ParseFormat(flag)
	if err != nil {
		return "", fmt.Errorf("--format: %w", err)
	}
	return f, nil
}

// parseSince reads a date (2026-01-31), a time (RFC 3339) or an age back
// from now (36h, 7d, 2w).
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		if v, err := strconv.Atoi(s[:n-1]); err == nil && v >= 0 {
			days := v
			if s[n-1] == 'w' {
				days *= 7
			}
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: expected a date (2026-01-31), a time (2026-01-31T18:00:00Z) or an age (36h, 7d, 2w)", s)
}

// runExport writes the selected conversations to stdout, one file or a
// directory, with a progress bar on a terminal's stderr.
func runExport(ctx context.Context, a *app, st *store.Store, ids []string, f export.Format, opts export.Options, output string, force bool) error {
	var bar *progressBar // nil (silent) for a single conversation
	progress := func(done, total int) {}
	toTerminal := false
	if output == "" || output == "-" {
		toTerminal = isTerminal(a.stdout) // the bar would tear the text apart
	}
	if len(ids) > 1 && !toTerminal {
		bar = newProgressBar(a.stderr, "export", false)
		progress = func(done, total int) { bar.Update(int64(done), int64(total), "") }
	}
	var err error
	switch {
	case output == "" || output == "-":
		err = export.Export(ctx, st, ids, a.stdout, f, opts, progress)
		bar.Finish()
	case exportToDir(output, len(ids)):
		var paths []string
		paths, err = export.ExportDir(ctx, st, ids, output, f, opts, force, progress)
		bar.Finish()
		if err == nil {
			fmt.Fprintf(a.stderr, "exported %d conversation(s) to %s\n", len(paths), output)
		}
	default:
		err = export.ExportFile(ctx, st, ids, output, f, opts, force, progress)
		bar.Finish()
	}
	return err
}

// exportToDir decides between one file and a directory of files: an
// existing directory or a trailing slash is a directory; a path that does
// not exist is a directory only when several conversations go out and it
// has no extension.
func exportToDir(output string, n int) bool {
	if strings.HasSuffix(output, "/") || strings.HasSuffix(output, string(filepath.Separator)) {
		return true
	}
	if fi, err := os.Stat(output); err == nil {
		return fi.IsDir()
	}
	return n > 1 && filepath.Ext(output) == ""
}

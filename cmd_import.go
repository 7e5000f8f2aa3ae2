package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/store/export"
)

func init() { registerCommand(newImportCommand) }

func newImportCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: plannedCommands["import"],
		Long: `Import conversations into the history from impetus JSON exports
('impetus export --format json') or JSONL files in the chat fine-tuning format
({"messages":[{"role":...,"content":...},...]} per line; "-" reads stdin).

Ids, timestamps, branches and stats are kept. A conversation already in the
history (same id; for JSONL, the same messages) is skipped, so importing a file
twice adds nothing. Every file is read and checked before anything is imported:
a malformed file, or one of another export version, imports nothing.`,
		Example: `  impetus import backup.json
  impetus import train.jsonl more.jsonl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			type parsed struct {
				name  string
				convs []export.Conversation
			}
			var all []parsed
			for _, name := range files {
				var convs []export.Conversation
				var err error
				if name == "-" {
					convs, err = export.Read(a.stdin, "stdin")
				} else {
					f, oerr := os.Open(name)
					if oerr != nil {
						return fmt.Errorf("import: %w", oerr)
					}
					convs, err = export.Read(f, name)
					f.Close()
				}
				if err != nil {
					return err
				}
				if name == "-" {
					name = "stdin"
				}
				all = append(all, parsed{name, convs})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := store.Open(a.DBPath())
			if err != nil {
				return err
			}
			defer st.Close()
			for _, p := range all {
				res, err := export.Import(ctx, st, p.convs)
				if err != nil {
					return fmt.Errorf("%s: %w (%d conversation(s) imported before it)", p.name, err, len(res.Imported))
				}
				fmt.Fprintf(a.stdout, "%s: %d imported, %d already present\n", p.name, len(res.Imported), len(res.Skipped))
			}
			return nil
		},
	}
	return cmd
}

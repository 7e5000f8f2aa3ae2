package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine/registry"
)

func init() { registerCommand(newModelsCommand) }

func newModelsCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: plannedCommands["models"],
		Long: `List the models on this machine: those in impetus' models directory (models_dir in
the config file, env IMPETUS_MODELS_DIR) and those in the Hugging Face cache ($HF_HUB_CACHE,
else $HF_HOME/hub, else ~/.cache/huggingface/hub). The ID column is what -m accepts.
Directories that are not usable models are skipped with a warning on stderr.`,
		Example: `  impetus models
  impetus models --json | jq '.[].id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := a.registryOptions()
			entries, warnings := registry.List(opts)
			for _, w := range warnings {
				fmt.Fprintf(a.stderr, "warning: %v\n", w)
			}
			if asJSON {
				if entries == nil {
					entries = []registry.Entry{}
				}
				b, err := json.MarshalIndent(entries, "", "  ")
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(append(b, '\n'))
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintf(a.stderr, "no models found in %s or %s; download one with: impetus pull ORG/NAME (e.g. mlx-community/Qwen2.5-0.5B-Instruct-4bit)\n",
					orNone(opts.ModelsDir), orNone(opts.HubCacheDir()))
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tARCH\tPARAMS\tQUANT\tDTYPE\tSIZE\tCONTEXT\tPATH")
			for _, e := range entries {
				quant := e.Quantization
				if quant == "" {
					quant = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Architecture, humanCount(e.Params), quant, e.DType, humanBytes(e.SizeBytes), e.ContextLength, e.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (id, source, path, architecture, params, quantization, dtype, size_bytes, context_length)")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// humanCount formats a parameter count the way model cards do: 494M, 1.5B.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

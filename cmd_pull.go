package main

import (
	"fmt"
	"path"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine/hub"
)

func init() { registerCommand(newPullCommand) }

func newPullCommand(a *app) *cobra.Command {
	var (
		includes []string
		parallel int
		cacheDir string
	)
	cmd := &cobra.Command{
		Use:   "pull ORG/NAME[@REVISION]",
		Short: plannedCommands["pull"],
		Long: `Download a model repository from the Hugging Face hub into the Hugging Face cache
($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), in the layout every
Hugging Face tool reads. Interrupted downloads resume; every file is checked against the
hub's checksum. HF_TOKEN authenticates for gated or private repositories; HF_ENDPOINT points
at a mirror. Prints the snapshot directory when done.`,
		Example: `  impetus pull mlx-community/Qwen2.5-0.5B-Instruct-4bit
  impetus pull mlx-community/Llama-3.2-1B-Instruct-4bit@main --include '*.json' --include '*.safetensors'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, rev, err := hub.ParseRef(args[0])
			if err != nil {
				return err
			}
			for _, pat := range includes {
				if _, err := path.Match(pat, ""); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--include %q: %v", pat, err)}
				}
			}
			c := hub.FromEnv()
			if cacheDir != "" {
				c.CacheDir = cacheDir
			}
			c.Parallel = parallel
			bar := newProgressBar(a.stderr, "pull "+repo, true)
			c.Progress = func(p hub.Progress) {
				bar.Update(p.Done, p.Total, fmt.Sprintf("(%d/%d files)", p.FilesDone, p.FilesTotal))
			}
			snapshot, err := c.Pull(cmd.Context(), repo, rev, includeFilter(includes))
			bar.Finish()
			if err != nil {
				return err
			}
			a.log.Info("pulled", "repo", repo, "revision", rev, "path", snapshot)
			_, err = a.stdout.Write([]byte(snapshot + "\n"))
			return err
		},
	}
	cmd.Flags().StringArrayVar(&includes, "include", nil, "only files matching this glob (repeatable), e.g. '*.safetensors'")
	cmd.Flags().IntVar(&parallel, "parallel", 4, "files downloaded at once")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "hub cache directory (default from HF_HUB_CACHE / HF_HOME)")
	return cmd
}

// includeFilter matches a repo file by its full path or its base name.
func includeFilter(patterns []string) func(string) bool {
	if len(patterns) == 0 {
		return nil
	}
	return func(name string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
			if ok, _ := path.Match(p, path.Base(name)); ok {
				return true
			}
		}
		return false
	}
}

package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine/chattmpl"
	"github.com/impetus-llm/impetus/engine/registry"
)

func init() { registerCommand(newTemplateCommand) }

func newTemplateCommand(a *app) *cobra.Command {
	var model, name string
	cmd := &cobra.Command{
		Use:   "template -m MODEL < input.json",
		Short: plannedCommands["template"],
		Long: `Render a chat prompt with the model's own chat template and print it exactly,
adding no newline. The input on stdin is one JSON object: "messages" (a list of
{"role", "content", ...} objects), and optionally "tools", "documents",
"add_generation_prompt" and any other variables the template reads (for example
"enable_thinking": false). Key order is kept, so tools render as given.

The template comes from chat_template.jinja or tokenizer_config.json's
"chat_template"; bos_token and eos_token from tokenizer_config.json. MODEL is a
model directory (one holding only the tokenizer files is enough), a hub id
ORG/NAME in the Hugging Face cache, or a name in the models directory.`,
		Example: `  echo '{"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":true}' | impetus template -m ./my-model
  impetus template -m mlx-community/Qwen3-0.6B-4bit < chat.json
  impetus template -m ./command-r --name tool_use < chat.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref := model
			if ref == "" && a.cfg != nil {
				ref = a.cfg.Model
			}
			dir, err := registry.Resolve(ref, a.registryOptions())
			if err != nil {
				return err
			}
			tmpl, err := chattmpl.Load(dir)
			if err != nil {
				return err
			}
			if name != "" {
				named := tmpl.Named(name)
				if named == nil {
					return fmt.Errorf("--name %q: the model has no chat template of that name (it has: %v)", name, tmpl.Names())
				}
				tmpl = named
			}
			input, err := io.ReadAll(a.stdin)
			if err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			if len(bytes.TrimSpace(input)) == 0 {
				return fmt.Errorf(`expected a JSON object on stdin, e.g. {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true}`)
			}
			out, err := chattmpl.RenderJSON(tmpl, input, tmpl.BOSToken, tmpl.EOSToken)
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.stdout, out)
			return err
		},
	}
	cmd.Flags().StringVarP(&model, "model", "m", "", "model directory, hub id ORG/NAME, or name in the models directory (default: config model)")
	cmd.Flags().StringVar(&name, "name", "", "use this template of a named list (e.g. tool_use, rag) instead of the default")
	return cmd
}

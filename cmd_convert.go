package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine/convert"
	"github.com/impetus-llm/impetus/engine/registry"
)

func init() { registerCommand(newConvertCommand) }

func newConvertCommand(a *app) *cobra.Command {
	var (
		bits, group int
		dtype       string
		force       bool
	)
	cmd := &cobra.Command{
		Use:   "convert SRC DST",
		Short: plannedCommands["convert"],
		Long: `Convert a Hugging Face safetensors model (float16, bfloat16 or float32) into MLX format,
quantized as mlx-lm's convert does: linear and embedding weights become MLX affine-quantized
(.weight uint32, .scales, .biases) with the same tensor names, config.json gains
"quantization" {"group_size", "bits", "mode"}, and the tokenizer files come along.
SRC may be a directory, a hub id in the Hugging Face cache, or a name in the models directory.
--bits 0 converts the dtype only.`,
		Example: `  impetus convert Qwen/Qwen2.5-0.5B-Instruct ~/models/qwen2.5-0.5b-4bit --bits 4 --group 64
  impetus convert ./llama ./llama-8bit --bits 8 --dtype bfloat16`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := registry.Resolve(args[0], a.registryOptions())
			if err != nil {
				return err
			}
			if bits != 0 {
				if err := convert.CheckQuantization(bits, group); err != nil {
					return fmt.Errorf("--bits %d --group %d: %w", bits, group, err)
				}
			}
			bar := newProgressBar(a.stderr, "convert", true)
			err = convert.Convert(src, args[1], convert.Options{
				Bits: bits, GroupSize: group, DType: dtype, Force: force,
				Progress: func(done, total int64) { bar.Update(done, total, "") },
			})
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, args[1])
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&bits, "bits", 4, "quantization bits: 2, 3, 4, 5, 6 or 8 (0: no quantization)")
	f.IntVar(&group, "group", 64, "quantization group size: 32, 64 or 128")
	f.StringVar(&dtype, "dtype", "", "float16, bfloat16 or float32 for unquantized tensors, scales and biases (default: the model's torch_dtype)")
	f.BoolVar(&force, "force", false, "replace DST if it exists")
	return cmd
}

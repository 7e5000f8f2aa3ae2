package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/engine/tokenizer"
)

func init() { registerCommand(newTokenizeCommand) }

func newTokenizeCommand(a *app) *cobra.Command {
	var (
		model       string
		addSpecial  bool
		decode      bool
		skipSpecial bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize -m MODEL [TEXT]",
		Short: plannedCommands["tokenize"],
		Long: `Print the token ids of TEXT as one JSON array, or with --decode the text of a JSON
array of ids. Without TEXT the input is read from stdin exactly as given (nothing is
trimmed, so a trailing newline is part of the text). Special tokens written in the
text (e.g. <|im_start|>) are recognized; --add-special also adds the ones the model
expects around a sequence (e.g. BOS). MODEL is a model directory (one holding only
tokenizer.json and tokenizer_config.json is enough), a hub id ORG/NAME in the
Hugging Face cache, or a name in the models directory. Put -- before a TEXT that
starts with a dash.`,
		Example: `  impetus tokenize -m mlx-community/Qwen2.5-0.5B-Instruct-4bit "Hello, world!"
  printf 'line\n' | impetus tokenize -m ./my-model --add-special
  impetus tokenize -m ./my-model --decode '[9707, 11, 1879, 0]'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if decode && addSpecial {
				return fmt.Errorf("--add-special applies to encoding; with --decode use --skip-special to drop special tokens")
			}
			if skipSpecial && !decode {
				return fmt.Errorf("--skip-special applies to --decode")
			}
			ref := model
			if ref == "" && a.cfg != nil {
				ref = a.cfg.Model
			}
			dir, err := registry.Resolve(ref, a.registryOptions())
			if err != nil {
				return err
			}
			tk, err := loadTokenizer(dir)
			if err != nil {
				return err
			}
			var input []byte
			if len(args) == 1 {
				input = []byte(args[0])
			} else if input, err = io.ReadAll(a.stdin); err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			if decode {
				ids, err := parseIDs(input, tk.VocabSize())
				if err != nil {
					return err
				}
				_, err = io.WriteString(a.stdout, tk.Decode(ids, skipSpecial))
				return err
			}
			ids := tk.Encode(string(input), addSpecial)
			out := make([]byte, 0, len(ids)*7+2)
			out = append(out, '[')
			for i, id := range ids {
				if i > 0 {
					out = append(out, ',')
				}
				out = strconv.AppendInt(out, int64(id), 10)
			}
			out = append(out, "]\n"...)
			_, err = a.stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&model, "model", "m", "", "model directory, hub id ORG/NAME, or name in the models directory (default: model in the config file)")
	f.BoolVar(&addSpecial, "add-special", false, "add the special tokens the model expects around a sequence (e.g. BOS)")
	f.BoolVar(&decode, "decode", false, "read a JSON array of ids (TEXT or stdin) and print its text, adding no newline")
	f.BoolVar(&skipSpecial, "skip-special", false, "with --decode: leave out special tokens")
	return cmd
}

// tokenizers keeps the tokenizers this process loaded, keyed by directory and
// the identity of its tokenizer files, so repeated in-process runs (tests, and
// anything that tokenizes many texts) read the large tokenizer.json once.
var tokenizers struct {
	sync.Mutex
	byKey map[string]*tokenizer.Tokenizer
}

func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	key := dir
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			key += fmt.Sprintf("|%s:%d:%d", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	tokenizers.Lock()
	defer tokenizers.Unlock()
	if tk, ok := tokenizers.byKey[key]; ok {
		return tk, nil
	}
	tk, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if tokenizers.byKey == nil || len(tokenizers.byKey) >= 8 {
		tokenizers.byKey = map[string]*tokenizer.Tokenizer{}
	}
	tokenizers.byKey[key] = tk
	return tk, nil
}

// parseIDs reads a JSON array of token ids and checks each is in the vocabulary.
func parseIDs(input []byte, vocabSize int) ([]int32, error) {
	var raw []json.Number
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("--decode needs a JSON array of token ids such as [1, 2, 3]: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("--decode needs one JSON array of token ids; found more after it")
	}
	ids := make([]int32, len(raw))
	for i, n := range raw {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--decode: element %d (%s) is not an integer token id", i, n)
		}
		if v < 0 || v >= int64(vocabSize) {
			return nil, fmt.Errorf("--decode: element %d: id %d is outside the vocabulary (0..%d)", i, v, vocabSize-1)
		}
		ids[i] = int32(v)
	}
	return ids, nil
}

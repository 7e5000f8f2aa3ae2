package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fieldError is a load error that names the file and the JSON field at fault,
// so a user with a broken tokenizer knows where to look.
type fieldError struct {
	file  string
	field string
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return fmt.Sprintf("%s: %s", e.file, e.msg)
	}
	return fmt.Sprintf("%s: field %q: %s", e.file, e.field, e.msg)
}

// loader carries the file name into every component parser.
type loader struct{ file string }

func (l *loader) errf(field, format string, args ...any) error {
	return &fieldError{file: l.file, field: field, msg: fmt.Sprintf(format, args...)}
}

// rawTokenizer is the top level of tokenizer.json; the polymorphic parts stay raw
// until their "type" is known.
type rawTokenizer struct {
	AddedTokens   []rawAddedToken `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type rawAddedToken struct {
	ID         *int64 `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

type rawModel struct {
	Type                    string           `json:"type"`
	Vocab                   map[string]int32 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
	UnkToken                *string          `json:"unk_token"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	Dropout                 *float64         `json:"dropout"`
}

// rawConfig is the part of tokenizer_config.json the tokenizer needs.
type rawConfig struct {
	AddBOSToken               *bool           `json:"add_bos_token"`
	AddEOSToken               *bool           `json:"add_eos_token"`
	BOSToken                  json.RawMessage `json:"bos_token"`
	EOSToken                  json.RawMessage `json:"eos_token"`
	CleanUpTokenizationSpaces *bool           `json:"clean_up_tokenization_spaces"`
	TokenizerClass            string          `json:"tokenizer_class"`
}

// Load reads tokenizer.json and (if present) tokenizer_config.json from dir.
func Load(dir string) (*Tokenizer, error) {
	tokPath := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(tokPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not found: the model directory needs a Hugging Face tokenizer.json", tokPath)
		}
		return nil, fmt.Errorf("read tokenizer: %w", err)
	}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	cfgData, err := os.ReadFile(cfgPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read tokenizer config: %w", err)
		}
		cfgData = nil
	}
	return parse(tokPath, data, cfgPath, cfgData)
}

// FromJSON builds a tokenizer from the bytes of tokenizer.json and (optionally,
// nil for none) tokenizer_config.json; names are used in error messages.
func FromJSON(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	return parse("tokenizer.json", tokenizerJSON, "tokenizer_config.json", configJSON)
}

func parse(tokPath string, data []byte, cfgPath string, cfgData []byte) (*Tokenizer, error) {
	return parseWith(tokPath, data, cfgPath, cfgData, true)
}

// parseWith can turn the fast reader off (tests compare both readers).
func parseWith(tokPath string, data []byte, cfgPath string, cfgData []byte, fast bool) (*Tokenizer, error) {
	l := &loader{file: tokPath}
	if err := l.checkContent(data); err != nil {
		return nil, err
	}
	var cfg rawConfig
	cl := &loader{file: cfgPath}
	if len(bytes.TrimSpace(cfgData)) > 0 {
		if err := json.Unmarshal(cfgData, &cfg); err != nil {
			return nil, cl.jsonErr("", err)
		}
	}

	t := &Tokenizer{specialIDs: map[int32]bool{}}
	var raw rawTokenizer
	var fm *fastModel
	if fast {
		fm, fast = fastParse(data)
	}
	if fast && fm.hasModel && fm.model.Vocab != nil && (fm.mergesRaw == nil || fastMerges(fm.mergesRaw, func(int, []byte, []byte) bool { return true })) {
		raw = fm.top
		merges := func(f func(i int, a, b []byte) bool) error {
			fastMerges(fm.mergesRaw, f)
			return nil
		}
		if fm.mergesRaw == nil {
			merges = nil
		}
		if err := t.buildModel(l, &fm.model, merges); err != nil {
			return nil, err
		}
	} else {
		// encoding/json reads anything unusual and names what is wrong.
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, l.jsonErr("", err)
		}
		if isNull(raw.Model) {
			return nil, l.errf("model", "missing: tokenizer.json needs a model")
		}
		var rm rawModel
		if err := l.decode("model", raw.Model, &rm); err != nil {
			return nil, err
		}
		pairs, err := l.parseMerges(rm.Merges)
		if err != nil {
			return nil, err
		}
		merges := func(f func(i int, a, b []byte) bool) error {
			for i, p := range pairs {
				if !f(i, []byte(p[0]), []byte(p[1])) {
					break
				}
			}
			return nil
		}
		if err := t.buildModel(l, &rm, merges); err != nil {
			return nil, err
		}
	}
	if err := t.buildAdded(l, raw.AddedTokens); err != nil {
		return nil, err
	}
	var err error
	if t.normalizer, err = l.normalizer("normalizer", raw.Normalizer); err != nil {
		return nil, err
	}
	if t.preTokenizer, err = l.preTokenizer("pre_tokenizer", raw.PreTokenizer); err != nil {
		return nil, err
	}
	if t.decoder, err = l.decoder("decoder", raw.Decoder); err != nil {
		return nil, err
	}
	post, err := l.postProcessor("post_processor", raw.PostProcessor, t)
	if err != nil {
		return nil, err
	}
	if err := t.applyConfig(cl, &cfg, post); err != nil {
		return nil, err
	}
	t.prepareModel()
	t.prepareStream()
	return t, nil
}

// mergeSource calls f with each merge's index and two parts until f returns false.
type mergeSource func(f func(i int, a, b []byte) bool) error

// jsonErr turns an encoding/json error into one naming the file and field.
func (l *loader) jsonErr(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if prefix != "" {
			if field == "" {
				field = prefix
			} else {
				field = prefix + "." + field
			}
		}
		return l.errf(field, "expected %s, found JSON %s", te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &fieldError{file: l.file, field: prefix, msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	return &fieldError{file: l.file, field: prefix, msg: err.Error()}
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || bytes.Equal(m, []byte("null"))
}

// componentType reads the "type" of a polymorphic component.
func (l *loader) componentType(field string, m json.RawMessage) (string, error) {
	var head struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(m, &head); err != nil {
		return "", l.jsonErr(field, err)
	}
	if head.Type == nil {
		return "", l.errf(field+".type", "missing: every component needs a \"type\"")
	}
	return *head.Type, nil
}

// decode unmarshals a component into v, naming the field on error.
// sequence reads a "Sequence" component: the list under key, each element
// built by one (null elements are dropped), fields named for errors.
func sequence[T any](l *loader, field, key string, m json.RawMessage, one func(string, json.RawMessage) (T, error)) ([]T, error) {
	var v map[string]json.RawMessage
	if err := l.decode(field, m, &v); err != nil {
		return nil, err
	}
	var subs []json.RawMessage
	if raw, ok := v[key]; ok && !isNull(raw) {
		if err := l.decode(field+"."+key, raw, &subs); err != nil {
			return nil, err
		}
	}
	var out []T
	for i, sub := range subs {
		step, err := one(fmt.Sprintf("%s.%s[%d]", field, key, i), sub)
		if err != nil {
			return nil, err
		}
		if any(step) != nil {
			out = append(out, step)
		}
	}
	return out, nil
}

func (l *loader) decode(field string, m json.RawMessage, v any) error {
	if err := json.Unmarshal(m, v); err != nil {
		return l.jsonErr(field, err)
	}
	return nil
}

// specialToken reads a token given in tokenizer_config.json either as a string or
// as an AddedToken object {"content": ...}; "" when absent or null.
func (l *loader) specialToken(field string, m json.RawMessage) (string, error) {
	if isNull(m) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(m, &obj); err != nil || obj.Content == nil {
		return "", l.errf(field, "expected a string or an object with \"content\"")
	}
	return *obj.Content, nil
}

// parseMerges reads merges given either as "a b" strings or as ["a", "b"] pairs.
func (l *loader) parseMerges(m json.RawMessage) ([][2]string, error) {
	if isNull(m) {
		return nil, nil
	}
	trimmed := bytes.TrimSpace(m)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, l.errf("model.merges", "expected an array of merges")
	}
	rest := bytes.TrimSpace(trimmed[1:])
	if len(rest) > 0 && rest[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(m, &pairs); err != nil {
			return nil, l.jsonErr("model.merges", err)
		}
		out := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, l.errf(fmt.Sprintf("model.merges[%d]", i), "a merge pair needs exactly 2 strings, found %d", len(p))
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	}
	var strs []string
	if err := json.Unmarshal(m, &strs); err != nil {
		return nil, l.jsonErr("model.merges", err)
	}
	out := make([][2]string, len(strs))
	for i, s := range strs {
		a, b, ok := strings.Cut(s, " ")
		if !ok {
			return nil, l.errf(fmt.Sprintf("model.merges[%d]", i), "merge %q has no space between its two parts", s)
		}
		out[i] = [2]string{a, b}
	}
	return out, nil
}

// checkContent catches files that are not JSON at all, with the likely reason.
func (l *loader) checkContent(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return &fieldError{file: l.file, msg: "the file is empty"}
	case bytes.HasPrefix(trimmed, []byte("version https://git-lfs")):
		return &fieldError{file: l.file, msg: "this is a Git LFS pointer, not the file: fetch it (git lfs pull, or download the model again)"}
	}
	return nil
}

// Package chattmpl renders a model's chat template: a Jinja2 engine (lexer,
// parser, evaluator) focused on what Hugging Face chat templates use, with
// the globals transformers adds (raise_exception, strftime_now, bos_token,
// eos_token, add_generation_prompt, tools, documents, extra variables).
//
// Output is byte-identical to @huggingface/jinja, the engine of the
// reference renderings in ../shared/testdata/chat_templates: the same
// trim_blocks/lstrip_blocks preprocessing, the same printing of values
// (true/false, none as ""), and tojson keeping the caller's key order with
// ", " and ": " separators and non-ASCII characters as they are. JSON input
// is decoded into ordered maps (Map) so that order survives from the
// request to the prompt.
//
// Deliberate differences from @huggingface/jinja 0.5.11, where it departs
// from Jinja2/Python: str.strip/lstrip/rstrip honour their chars argument;
// string lengths count code points, not UTF-16 units; % takes the sign of the
// divisor; int of a negative float truncates; division by zero is an error;
// iterating an undefined value yields nothing (iterating none is an error);
// tools and documents are none when absent, as transformers passes them.
// Beyond it, the engine has what Jinja2 chat templates also use and it lacks
// (select/reject/map with a filter, batch, round, escape, dict(), list.append,
// loop.cycle, test arguments, string repetition, string comparison).
//
// Rendering is bounded: evaluation steps, output and value size, list length
// and macro recursion have limits, so no template can hang or exhaust memory.
package chattmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is a parsed chat template. It is immutable and safe for
// concurrent Render calls.
type Template struct {
	// Source names where the template came from, for error messages.
	Source string
	// BOSToken and EOSToken are the tokenizer's special tokens when the
	// template was loaded with Load ("" when the config has none).
	BOSToken, EOSToken string

	src   string
	nodes []node
	// named holds the other templates of a named list (tokenizer_config.json
	// "chat_template": [{"name": ..., "template": ...}]), by name.
	named map[string]*Template
	name  string // this template's name in such a list

	maxSteps, maxOutput int64
	maxItems            int
}

// Error is a template syntax or rendering error with its place in the
// template source.
type Error struct {
	Source    string // where the template came from
	Line, Col int    // 1-based position in the template text; 0 when unknown
	Msg       string
	// Raised is true when the template itself called raise_exception; Msg is
	// then exactly the template's message.
	Raised bool
}

func (e *Error) Error() string {
	loc := e.Source
	if e.Line > 0 {
		loc += fmt.Sprintf(":%d:%d", e.Line, e.Col)
	}
	if e.Raised {
		return loc + ": the chat template raised an error: " + e.Msg
	}
	return loc + ": " + e.Msg
}

// Parse parses a template from its source text.
func Parse(src string) (*Template, error) { return ParseNamed("chat template", src) }

// ParseNamed parses src; source names it in errors (a file path, say).
func ParseNamed(source, src string) (*Template, error) {
	t := &Template{Source: source, src: src, maxSteps: defaultMaxSteps, maxOutput: defaultMaxOutput}
	toks, err := tokenize(src)
	if err != nil {
		var le *lexError
		if errors.As(err, &le) {
			return nil, t.errorAt(le.pos, "syntax error: "+le.msg, false)
		}
		return nil, err
	}
	nodes, err := parse(toks, len(src))
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return nil, t.errorAt(pe.pos, "syntax error: "+pe.msg, false)
		}
		return nil, err
	}
	t.nodes = nodes
	return t, nil
}

func (t *Template) errorAt(off int, msg string, raised bool) *Error {
	e := &Error{Source: t.Source, Msg: msg, Raised: raised}
	if off >= 0 && off <= len(t.src) {
		before := t.src[:off]
		e.Line = strings.Count(before, "\n") + 1
		e.Col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	}
	return e
}

// Named returns the template called name from the same named list
// ("default", "tool_use", "rag", ...), or nil.
func (t *Template) Named(name string) *Template {
	if t.name == name {
		return t
	}
	return t.named[name]
}

// Names lists the names of a named template list, "" for a single template.
func (t *Template) Names() []string {
	var names []string
	for n := range t.named {
		names = append(names, n)
	}
	return sortedStrings(names)
}

// Message is one chat message. When Raw is set it is the whole message as a
// JSON object (tool_calls, content parts, ...), used instead of Role/Content
// with its key order kept.
type Message struct {
	Role, Content string
	Raw           json.RawMessage
}

// Input is what a chat template is rendered with.
type Input struct {
	Messages            []Message
	Tools               []json.RawMessage // function schemas; none when empty
	Documents           []json.RawMessage // RAG documents; none when empty
	AddGenerationPrompt bool
	BOSToken, EOSToken  string
	// Extra variables (enable_thinking, ...). They are set last, so they may
	// override any of the above.
	Extra map[string]any
}

func rawList(what string, raws []json.RawMessage) (Value, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	l := &List{Items: make([]Value, len(raws))}
	for i, r := range raws {
		v, err := DecodeJSON(r)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: invalid JSON: %w", what, i, err)
		}
		l.Items[i] = v
	}
	return l, nil
}

// Render renders the template. With tools given and a "tool_use" template in
// the same named list, that one is used, as transformers does.
func (t *Template) Render(in Input) (string, error) {
	vars := NewMap()
	msgs := &List{Items: make([]Value, len(in.Messages))}
	for i, m := range in.Messages {
		if len(m.Raw) > 0 {
			v, err := DecodeJSON(m.Raw)
			if err != nil {
				return "", fmt.Errorf("messages[%d]: invalid JSON: %w", i, err)
			}
			if _, ok := v.(*Map); !ok {
				return "", fmt.Errorf("messages[%d]: must be a JSON object, got %s", i, typeName(v))
			}
			msgs.Items[i] = v
			continue
		}
		mm := NewMap()
		mm.Set("role", m.Role)
		mm.Set("content", m.Content)
		msgs.Items[i] = mm
	}
	vars.Set("messages", msgs)
	tools, err := rawList("tools", in.Tools)
	if err != nil {
		return "", err
	}
	vars.Set("tools", tools)
	docs, err := rawList("documents", in.Documents)
	if err != nil {
		return "", err
	}
	vars.Set("documents", docs)
	vars.Set("add_generation_prompt", in.AddGenerationPrompt)
	vars.Set("bos_token", in.BOSToken)
	vars.Set("eos_token", in.EOSToken)
	keys := make([]string, 0, len(in.Extra))
	for k := range in.Extra {
		keys = append(keys, k)
	}
	for _, k := range sortedStrings(keys) {
		v, err := FromGo(in.Extra[k])
		if err != nil {
			return "", fmt.Errorf("extra variable %q: %w", k, err)
		}
		vars.Set(k, v)
	}
	return t.forTools(len(in.Tools) > 0).render(vars)
}

func (t *Template) forTools(haveTools bool) *Template {
	if haveTools && t.name != "tool_use" {
		if tu := t.named["tool_use"]; tu != nil {
			return tu
		}
	}
	return t
}

var globals = globalFuncs()

// nowFunc is the clock of strftime_now (tests replace it).
var nowFunc = time.Now

// RenderVars renders with exactly the given variables (an ordered mapping
// of name to value).
func (t *Template) RenderVars(vars *Map) (string, error) { return t.render(vars) }

func (t *Template) render(vars *Map) (string, error) {
	st := &state{maxSteps: t.maxSteps, maxOut: t.maxOutput, maxItems: t.maxItems, now: nowFunc, globals: globals}
	if st.maxItems <= 0 {
		st.maxItems = maxRangeLen
	}
	if st.maxSteps <= 0 {
		st.maxSteps = defaultMaxSteps
	}
	if st.maxOut <= 0 {
		st.maxOut = defaultMaxOutput
	}
	root := newScope(nil)
	for i, k := range vars.Keys() {
		root.vars[k] = vars.vals[i]
	}
	var b strings.Builder
	_, err := st.exec(t.nodes, root, &b)
	if err != nil {
		var re *runtimeError
		if errors.As(err, &re) {
			return "", t.errorAt(re.pos, re.msg, re.raised)
		}
		return "", err
	}
	return b.String(), nil
}

// RenderJSON renders the `impetus template` input: a JSON object with
// "messages" and optionally "tools", "documents", "add_generation_prompt"
// and any other variables, every object keeping its key order. bos and eos
// fill bos_token/eos_token unless the input sets them.
func RenderJSON(t *Template, input []byte, bos, eos string) (string, error) {
	v, err := DecodeJSON(input)
	if err != nil {
		return "", fmt.Errorf("template input: invalid JSON: %w", err)
	}
	in, ok := v.(*Map)
	if !ok {
		return "", fmt.Errorf("template input: expected a JSON object with \"messages\", got %s", typeName(v))
	}
	msgs, ok := in.Get("messages")
	if !ok {
		return "", errors.New(`template input: "messages" is missing (expected {"messages": [{"role": ..., "content": ...}], ...})`)
	}
	ml, ok := msgs.(*List)
	if !ok {
		return "", fmt.Errorf("template input: \"messages\" must be a list, got %s", typeName(msgs))
	}
	for i, m := range ml.Items {
		if _, ok := m.(*Map); !ok {
			return "", fmt.Errorf("template input: messages[%d] must be an object, got %s", i, typeName(m))
		}
	}
	vars := NewMap()
	vars.Set("messages", ml)
	vars.Set("tools", nil)
	vars.Set("documents", nil)
	vars.Set("add_generation_prompt", false)
	vars.Set("bos_token", bos)
	vars.Set("eos_token", eos)
	for i, k := range in.Keys() {
		vars.Set(k, in.vals[i])
	}
	tools, _ := vars.Get("tools")
	haveTools := truthy(tools)
	return t.forTools(haveTools).render(vars)
}

// Load reads the chat template of a model directory: chat_template.jinja if
// present (transformers lets it override the config), else "chat_template"
// in tokenizer_config.json (a string, or a list of {"name", "template"} whose
// "default" is returned and the others reachable with Named), else
// chat_template.json. BOSToken/EOSToken come from tokenizer_config.json.
func Load(dir string) (*Template, error) {
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	var cfg map[string]json.RawMessage
	data, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", cfgPath, err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, err
	}
	bos, err := specialToken(cfg, "bos_token", cfgPath)
	if err != nil {
		return nil, err
	}
	eos, err := specialToken(cfg, "eos_token", cfgPath)
	if err != nil {
		return nil, err
	}
	finish := func(t *Template) *Template {
		for _, x := range append([]*Template{t}, mapValues(t.named)...) {
			x.BOSToken, x.EOSToken = bos, eos
		}
		return t
	}

	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if src, err := os.ReadFile(jinjaPath); err == nil {
		t, err := ParseNamed(jinjaPath, string(src))
		if err != nil {
			return nil, err
		}
		return finish(t), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	if raw, ok := cfg["chat_template"]; ok && string(raw) != "null" {
		t, err := parseConfigTemplate(raw, cfgPath+" (chat_template)")
		if err != nil {
			return nil, err
		}
		return finish(t), nil
	}

	jsonPath := filepath.Join(dir, "chat_template.json")
	if data, err := os.ReadFile(jsonPath); err == nil {
		var ct map[string]json.RawMessage
		if err := json.Unmarshal(data, &ct); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", jsonPath, err)
		}
		if raw, ok := ct["chat_template"]; ok {
			t, err := parseConfigTemplate(raw, jsonPath+" (chat_template)")
			if err != nil {
				return nil, err
			}
			return finish(t), nil
		}
	}
	if cfg == nil {
		return nil, fmt.Errorf("no chat template in %s: neither tokenizer_config.json nor chat_template.jinja exists", dir)
	}
	return nil, fmt.Errorf("no chat template in %s: %s has no \"chat_template\" and there is no chat_template.jinja", dir, cfgPath)
}

func parseConfigTemplate(raw json.RawMessage, source string) (*Template, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return ParseNamed(source, s)
	}
	var list []struct {
		Name     string  `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: must be a string or a list of {\"name\", \"template\"} objects", source)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: the list of templates is empty", source)
	}
	named := map[string]*Template{}
	var first *Template
	for i, e := range list {
		if e.Name == "" || e.Template == nil {
			return nil, fmt.Errorf("%s: entry %d needs a \"name\" and a \"template\"", source, i)
		}
		t, err := ParseNamed(fmt.Sprintf("%s[%q]", source, e.Name), *e.Template)
		if err != nil {
			return nil, err
		}
		t.name = e.Name
		named[e.Name] = t
		if first == nil {
			first = t
		}
	}
	def := named["default"]
	if def == nil {
		def = first
	}
	for _, t := range named {
		t.named = named
	}
	return def, nil
}

// specialToken reads bos_token/eos_token: a string, or an AddedToken object
// {"content": ...}; absent or null is "".
func specialToken(cfg map[string]json.RawMessage, key, path string) (string, error) {
	raw, ok := cfg[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", fmt.Errorf("%s: %q must be a string or an object with \"content\"", path, key)
	}
	return *obj.Content, nil
}

func mapValues(m map[string]*Template) []*Template {
	var out []*Template
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func sortedKeys(m map[string]*Template) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortedStrings(keys)
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

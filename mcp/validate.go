package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// toolSpec is what the argument check knows about one tool: its compiled
// input schema and the rules a schema cannot say (one of prompt/messages).
type toolSpec struct {
	name   string
	schema *jsonschema.Schema
	props  []string // argument names, for "unknown argument" messages
	// check runs after the schema passed, on the decoded arguments.
	check func(args json.RawMessage) *paramError
}

// compileInputSchema compiles a tool's JSON input schema for validation.
func compileInputSchema(name string, schema []byte) (*jsonschema.Schema, []string, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, nil, fmt.Errorf("tool %s: input schema: %w", name, err)
	}
	url := "mem:///impetus/tools/" + name + ".json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, nil, fmt.Errorf("tool %s: input schema: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, nil, fmt.Errorf("tool %s: input schema: %w", name, err)
	}
	var props []string
	if m, ok := doc.(map[string]any); ok {
		if p, ok := m["properties"].(map[string]any); ok {
			for k := range p {
				props = append(props, k)
			}
		}
	}
	sort.Strings(props)
	return sch, props, nil
}

// checkToolCall validates a tools/call's arguments against the tool's schema
// and rules; an unknown tool is -32602 too, listing the tools.
func (s *Server) checkToolCall(params json.RawMessage) *paramError {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return invalidParams("", "invalid tools/call params: %v", err)
	}
	spec, ok := s.tools[p.Name]
	if !ok {
		names := make([]string, 0, len(s.tools))
		for n := range s.tools {
			names = append(names, n)
		}
		sort.Strings(names)
		perr := invalidParams("name", "unknown tool %q: this server has %s", p.Name, strings.Join(names, ", "))
		perr.data["tool"] = p.Name
		return perr
	}
	args := bytes.TrimSpace(p.Arguments)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return invalidParams("", "tool %s: arguments are not valid JSON: %v", p.Name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return invalidParams("", "tool %s: arguments must be a JSON object of named arguments", p.Name)
	}
	if err := spec.schema.Validate(v); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return invalidParams("", "tool %s: invalid arguments: %v", p.Name, err)
		}
		field, why := describeValidation(verr, spec.props)
		perr := invalidParams(field, "tool %s: invalid argument %s: %s", p.Name, field, why)
		if field == "" {
			perr = invalidParams("", "tool %s: invalid arguments: %s", p.Name, why)
		}
		perr.data["tool"] = p.Name
		return perr
	}
	if spec.check != nil {
		if perr := spec.check(args); perr != nil {
			perr.message = "tool " + p.Name + ": " + perr.message
			perr.data["tool"] = p.Name
			return perr
		}
	}
	return nil
}

var english = message.NewPrinter(language.English)

// describeValidation picks the first leaf violation and says it in words a
// caller (often a language model) can act on, with the argument's path.
func describeValidation(verr *jsonschema.ValidationError, props []string) (field, why string) {
	leaf := firstLeaf(verr)
	field = fieldPath(leaf.InstanceLocation)
	switch k := leaf.ErrorKind.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = withArticle(w)
		}
		return field, fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), withArticle(k.Got))
	case *kind.Required:
		missing := k.Missing[0]
		return joinPath(field, missing), "is required"
	case *kind.AdditionalProperties:
		bad := k.Properties[0]
		if field == "" {
			return bad, fmt.Sprintf("is not an argument of this tool (arguments: %s)", strings.Join(props, ", "))
		}
		return joinPath(field, bad), "is not allowed here"
	case *kind.Enum:
		var want []string
		for _, w := range k.Want {
			b, _ := json.Marshal(w)
			want = append(want, string(b))
		}
		got, _ := json.Marshal(k.Got)
		return field, fmt.Sprintf("must be one of %s, not %s", strings.Join(want, ", "), got)
	case *kind.Minimum:
		return field, fmt.Sprintf("must be at least %s, not %s", ratString(k.Want.FloatString(6)), ratString(k.Got.FloatString(6)))
	case *kind.Maximum:
		return field, fmt.Sprintf("must be at most %s, not %s", ratString(k.Want.FloatString(6)), ratString(k.Got.FloatString(6)))
	case *kind.MinLength:
		return field, fmt.Sprintf("must have at least %d characters", k.Want)
	case *kind.MaxItems:
		return field, fmt.Sprintf("may have at most %d items", k.Want)
	case *kind.MinItems:
		return field, fmt.Sprintf("must have at least %d items", k.Want)
	}
	return field, leaf.ErrorKind.LocalizedString(english)
}

// firstLeaf follows the first cause down to a concrete violation.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// fieldPath renders an instance location as messages[1].role.
func fieldPath(loc []string) string {
	var b strings.Builder
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// ratString trims a decimal's trailing zeros: 2.000000 → 2.
func ratString(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func withArticle(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

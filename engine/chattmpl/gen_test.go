package chattmpl

import (
	"math/rand"
	"strings"
)

// randomTemplates builds n small templates from pieces chat templates are
// made of (whitespace control, loops, conditionals, filters, string
// methods, arithmetic), for the differential check against
// @huggingface/jinja. Deterministic for a seed.
func randomTemplates(seed int64, n int) []string {
	r := rand.New(rand.NewSource(seed))
	atoms := []string{
		"m.role", "m.content", "m['content']", "messages[0].content", "messages[-1]['role']", "loop.index", "loop.index0",
		"loop.first", "loop.last", "loop.length", "x", "y", "n", "f", "'a b '", `"Q\n"`, "1", "2.5", "-3", "true", "none",
		"[1, 2, 3]", "{'k': 'v', 'a': 1}", "ns.v", "tools", "tools[0]", "d", "d.k", "d['z']", "messages|length", "undefined_var",
	}
	filters := []string{"|trim", "|length", "|upper", "|lower", "|tojson", "|string", "|first", "|last", "|list", "|reverse",
		"|join(', ')", "|default('D')", "|tojson(indent=2)", "|int", "|float", "|abs", "|capitalize", "|title", "|items|list",
		"|replace('a', 'b')", "|indent(2)", "|sort", "|unique|list", "|map(attribute='role')|list", "|selectattr('role', 'equalto', 'user')|list",
		"|dictsort", ""}
	methods := []string{".strip()", ".lstrip()", ".rstrip()", ".upper()", ".split(' ')", ".startswith('a')", ".endswith('\\n')",
		".replace(' ', '_')", ".title()", ".keys()|list", ".values()|list", ".items()|list", ".get('k')", ".get('z', 'dz')"}
	ops := []string{" + ", " ~ ", " == ", " != ", " < ", " > ", " and ", " or ", " in ", " not in ", " * ", " - ", " // ", " % "}
	tests := []string{" is defined", " is not none", " is string", " is mapping", " is iterable", " is number", " is odd", " is true"}
	ws := func() string {
		return []string{"", "", " ", "\n", "  \n  ", "\n\n", "\t"}[r.Intn(7)]
	}
	dash := func() string {
		if r.Intn(3) == 0 {
			return "-"
		}
		return ""
	}
	var expr func(depth int) string
	expr = func(depth int) string {
		e := atoms[r.Intn(len(atoms))]
		if r.Intn(3) == 0 {
			e += filters[r.Intn(len(filters))]
		}
		if r.Intn(5) == 0 {
			e += methods[r.Intn(len(methods))]
		}
		if depth < 2 {
			switch r.Intn(6) {
			case 0:
				e = e + ops[r.Intn(len(ops))] + expr(depth+1)
			case 1:
				e = "(" + expr(depth+1) + " if " + expr(depth+1) + " else " + expr(depth+1) + ")"
			case 2:
				e += tests[r.Intn(len(tests))]
			case 3:
				e = "not " + e
			}
		}
		return e
	}
	var block func(depth int) string
	block = func(depth int) string {
		var b strings.Builder
		for k := r.Intn(4) + 1; k > 0; k-- {
			b.WriteString(ws())
			switch c := r.Intn(8); {
			case c < 3:
				b.WriteString("{{" + dash() + " " + expr(0) + " " + dash() + "}}")
			case c == 3 && depth < 2:
				b.WriteString("{%" + dash() + " if " + expr(0) + " " + dash() + "%}" + block(depth+1))
				if r.Intn(2) == 0 {
					b.WriteString("{%" + dash() + " elif " + expr(0) + " " + dash() + "%}" + block(depth+1))
				}
				if r.Intn(2) == 0 {
					b.WriteString("{%" + dash() + " else " + dash() + "%}" + block(depth+1))
				}
				b.WriteString(ws() + "{%" + dash() + " endif " + dash() + "%}")
			case c == 4 && depth < 2:
				iter := []string{"messages", "messages[1:]", "messages[::-1]", "[1, 2, 3]", "d.items()", "range(3)", "messages if m is defined"}[r.Intn(7)]
				v := "m"
				if strings.HasPrefix(iter, "d.items") {
					v = "k, m"
				}
				b.WriteString("{%" + dash() + " for " + v + " in " + iter + " " + dash() + "%}" + block(depth+1) + ws() + "{%" + dash() + " endfor " + dash() + "%}")
			case c == 5:
				b.WriteString("{%" + dash() + " set x = " + expr(0) + " " + dash() + "%}")
			case c == 6:
				b.WriteString("{%" + dash() + " set ns.v = " + expr(0) + " " + dash() + "%}")
			default:
				b.WriteString("{#" + dash() + " c " + dash() + "#}" + ws() + "text" + ws())
			}
		}
		return b.String()
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "{%- set ns = namespace(v=0) -%}" + block(0) + ws()
	}
	return out
}

const randomTemplateVars = `{"messages": [{"role": "system", "content": " Be brief.\n"}, {"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}],
 "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": [2.5, "é"]}}}], "d": {"k": "v", "z": 0}, "n": 7, "f": 0.5, "y": "why"}`

// randomWhitespaceTemplates stresses whitespace handling: text with spaces,
// tabs and newlines around tags with and without "-", comments, block sets,
// generation blocks, all with expressions that cannot fail.
func randomWhitespaceTemplates(seed int64, n int) []string {
	r := rand.New(rand.NewSource(seed))
	texts := []string{"", " ", "  ", "\n", "\n\n", " \n ", "\t", "a", " b ", "c\n", "\n d", "\r\n", "x %}\ny", "#}\n", "-}\n", "\u00a0", " \u3000"}
	txt := func() string {
		var b strings.Builder
		for k := r.Intn(3); k >= 0; k-- {
			b.WriteString(texts[r.Intn(len(texts))])
		}
		return b.String()
	}
	d := func() string {
		if r.Intn(2) == 0 {
			return "-"
		}
		return ""
	}
	vals := []string{"'v'", "' w '", `"\n"`, "1", "x", "loop.index"}
	var block func(depth int) string
	block = func(depth int) string {
		var b strings.Builder
		for k := r.Intn(4) + 1; k > 0; k-- {
			b.WriteString(txt())
			switch c := r.Intn(9); {
			case c < 2:
				b.WriteString("{{" + d() + " " + vals[r.Intn(len(vals))] + " " + d() + "}}")
			case c == 2 && depth < 3:
				b.WriteString("{%" + d() + " if true " + d() + "%}" + block(depth+1) + "{%" + d() + " else " + d() + "%}" + block(depth+1) + "{%" + d() + " endif " + d() + "%}")
			case c == 3 && depth < 3:
				b.WriteString("{%" + d() + " for i in [1, 2] " + d() + "%}" + block(depth+1) + "{%" + d() + " endfor " + d() + "%}")
			case c == 4:
				b.WriteString("{#" + d() + " note " + d() + "#}")
			case c == 5 && depth < 3:
				b.WriteString("{%" + d() + " set x " + d() + "%}" + block(depth+1) + "{%" + d() + " endset " + d() + "%}")
			case c == 6 && depth < 3:
				b.WriteString("{%" + d() + " generation " + d() + "%}" + block(depth+1) + "{%" + d() + " endgeneration " + d() + "%}")
			case c == 7:
				b.WriteString("{%" + d() + " set x = 'y' " + d() + "%}")
			default:
				b.WriteString(txt())
			}
		}
		return b.String()
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "{%- set x = 'x0' %}" + block(0) + txt()
	}
	return out
}

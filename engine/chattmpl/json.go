package chattmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonOpts are tojson's options, laid out as @huggingface/jinja's toJSON does.
type jsonOpts struct {
	indent           int // 0: one line
	itemSep, keySep  string
	ensureASCII      bool
	sortKeys         bool
	undefinedLiteral bool // print undefined as "undefined" (string conversion), not null (tojson)
}

func newJSONOpts(indent int, separators []string, ensureASCII, sortKeys bool) jsonOpts {
	o := jsonOpts{indent: indent, ensureASCII: ensureASCII, sortKeys: sortKeys}
	switch {
	case separators != nil:
		o.itemSep, o.keySep = separators[0], separators[1]
	case indent > 0:
		o.itemSep, o.keySep = ",", ": "
	default:
		o.itemSep, o.keySep = ", ", ": "
	}
	return o
}

const maxJSONDepth = 512

// writeJSON serializes v: keys in insertion order, non-ASCII kept as is, the
// separators of jsonOpts, and with indent the newline layout of Python's json.
func writeJSON(b *strings.Builder, v Value, o jsonOpts, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("tojson: value nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case Undefined:
		if o.undefinedLiteral {
			b.WriteString("undefined")
		} else {
			b.WriteString("null")
		}
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(jsNumber(v))
		}
	case string:
		writeJSONString(b, v, o.ensureASCII)
	case *List:
		if len(v.Items) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, it := range v.Items {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			writeIndent(b, o, depth+1)
			if err := writeJSON(b, it, o, depth+1); err != nil {
				return err
			}
		}
		writeIndent(b, o, depth)
		b.WriteByte(']')
	case *Namespace:
		return writeJSONMap(b, v.Attrs, o, depth)
	case *loopValue:
		return writeJSONMap(b, v.asMap(), o, depth)
	case *Map:
		return writeJSONMap(b, v, o, depth)
	default:
		return fmt.Errorf("tojson: cannot convert %s to JSON", typeName(v))
	}
	return nil
}

func writeJSONMap(b *strings.Builder, m *Map, o jsonOpts, depth int) error {
	if m.Len() == 0 {
		b.WriteString("{}")
		return nil
	}
	order := make([]int, m.Len())
	for i := range order {
		order[i] = i
	}
	if o.sortKeys {
		sort.SliceStable(order, func(i, j int) bool { return m.keys[order[i]] < m.keys[order[j]] })
	}
	b.WriteByte('{')
	for n, i := range order {
		if n > 0 {
			b.WriteString(o.itemSep)
		}
		writeIndent(b, o, depth+1)
		writeJSONString(b, m.keys[i], o.ensureASCII)
		b.WriteString(o.keySep)
		if err := writeJSON(b, m.vals[i], o, depth+1); err != nil {
			return err
		}
	}
	writeIndent(b, o, depth)
	b.WriteByte('}')
	return nil
}

func writeIndent(b *strings.Builder, o jsonOpts, depth int) {
	if o.indent <= 0 {
		return
	}
	b.WriteByte('\n')
	for i := 0; i < depth*o.indent; i++ {
		b.WriteByte(' ')
	}
}

const hexDigits = "0123456789abcdef"

// writeJSONString quotes s as JavaScript's JSON.stringify does: only '"', '\\'
// and control characters are escaped; with ensureASCII every UTF-16 unit from
// 0x7f up becomes \uXXXX.
func writeJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 || (ensureASCII && c == 0x7f) {
					b.WriteString(`\u00`)
					b.WriteByte(hexDigits[c>>4])
					b.WriteByte(hexDigits[c&15])
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !ensureASCII || (r == utf8.RuneError && size == 1) {
			b.WriteString(s[i : i+size])
		} else if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			writeU(b, r1)
			writeU(b, r2)
		} else {
			writeU(b, r)
		}
		i += size
	}
	b.WriteByte('"')
}

func writeU(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[(r>>12)&15])
	b.WriteByte(hexDigits[(r>>8)&15])
	b.WriteByte(hexDigits[(r>>4)&15])
	b.WriteByte(hexDigits[r&15])
}

// DecodeJSON decodes one JSON document into template values, keeping object
// key order (objects become *Map, arrays *List). Integral numbers become
// int64, as @huggingface/jinja (JavaScript) sees 1.0 as the integer 1. It
// accepts exactly what encoding/json accepts (invalid UTF-8 and lone
// surrogates become U+FFFD, a repeated key keeps its first place and its
// last value).
func DecodeJSON(data []byte) (Value, error) {
	d := jsonDecoder{s: data}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i < len(d.s) {
		return nil, d.errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// jsonDecoder is a small strict JSON parser; encoding/json's token API is
// several times slower and this one sits on the path of every prompt.
type jsonDecoder struct {
	s []byte
	i int
}

const maxJSONNesting = 10000

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) unexpected() error {
	if d.i >= len(d.s) {
		return d.errorf("unexpected end of JSON input")
	}
	return d.errorf("invalid character %s", strconv.QuoteRune(rune(d.s[d.i])))
}

func (d *jsonDecoder) literal(word string, v Value) (Value, error) {
	if len(d.s)-d.i < len(word) || string(d.s[d.i:d.i+len(word)]) != word {
		for j := 0; j < len(word) && d.i < len(d.s) && d.s[d.i] == word[j]; j++ {
			d.i++
		}
		return nil, d.unexpected()
	}
	d.i += len(word)
	return v, nil
}

func (d *jsonDecoder) value(depth int) (Value, error) {
	if depth > maxJSONNesting {
		return nil, d.errorf("exceeded max depth")
	}
	if d.i >= len(d.s) {
		return nil, d.unexpected()
	}
	switch c := d.s[d.i]; {
	case c == '{':
		d.i++
		m := NewMap()
		d.space()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return m, nil
		}
		for {
			if d.i >= len(d.s) || d.s[d.i] != '"' {
				return nil, d.unexpected()
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			d.space()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				return nil, d.unexpected()
			}
			d.i++
			d.space()
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m.Set(k, v)
			d.space()
			if d.i < len(d.s) && d.s[d.i] == ',' {
				d.i++
				d.space()
				continue
			}
			if d.i < len(d.s) && d.s[d.i] == '}' {
				d.i++
				return m, nil
			}
			return nil, d.unexpected()
		}
	case c == '[':
		d.i++
		l := &List{}
		d.space()
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return l, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, v)
			d.space()
			if d.i < len(d.s) && d.s[d.i] == ',' {
				d.i++
				d.space()
				continue
			}
			if d.i < len(d.s) && d.s[d.i] == ']' {
				d.i++
				return l, nil
			}
			return nil, d.unexpected()
		}
	case c == '"':
		return d.str()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	case c == '-' || isDigit(c):
		return d.number()
	}
	return nil, d.unexpected()
}

func (d *jsonDecoder) number() (Value, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case d.i < len(d.s) && d.s[d.i] >= '1' && d.s[d.i] <= '9':
		for d.i < len(d.s) && isDigit(d.s[d.i]) {
			d.i++
		}
	default:
		return nil, d.unexpected()
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if d.i >= len(d.s) || !isDigit(d.s[d.i]) {
			return nil, d.unexpected()
		}
		for d.i < len(d.s) && isDigit(d.s[d.i]) {
			d.i++
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if d.i >= len(d.s) || !isDigit(d.s[d.i]) {
			return nil, d.unexpected()
		}
		for d.i < len(d.s) && isDigit(d.s[d.i]) {
			d.i++
		}
	}
	return jsonNumber(string(d.s[start:d.i])), nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// hex4 reads the XXXX of \uXXXX at s[i:].
func hex4(s []byte, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, c := range s[i : i+4] {
		h := hexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s []byte) string {
	if utf8.Valid(s) {
		return string(s)
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		b = utf8.AppendRune(b, r)
		i += n
	}
	return string(b)
}

// str reads a string literal at d.s[d.i] == '"'.
func (d *jsonDecoder) str() (string, error) {
	d.i++
	start := d.i
	// Fast path: no escapes, valid UTF-8, no control characters.
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := d.s[start:d.i]
			d.i++
			return validUTF8(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	var b []byte
	b = append(b, d.s[start:d.i]...)
	for {
		if d.i >= len(d.s) {
			return "", d.unexpected()
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return validUTF8(b), nil
		case c < 0x20:
			return "", d.errorf("invalid character %s in string literal", strconv.QuoteRune(rune(c)))
		case c == '\\':
			if d.i+1 >= len(d.s) {
				d.i++
				return "", d.unexpected()
			}
			e := d.s[d.i+1]
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(d.s, d.i+2)
				if r < 0 {
					d.i += 2
					return "", d.errorf("invalid \\u escape in string literal")
				}
				d.i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.s) && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
						r2 = hex4(d.s, d.i+2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						d.i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.i++
				return "", d.errorf("invalid escape \\%s in string literal", string(rune(e)))
			}
			d.i += 2
		default:
			b = append(b, c)
			d.i++
		}
	}
}

func jsonNumber(s string) Value {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return f // ±Inf on overflow
	}
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return int64(f)
	}
	return f
}

// FromGo converts a Go value into a template value: JSON-able Go types,
// json.RawMessage (decoded with key order kept), and template values as they
// are. Go maps have no order, so their keys are sorted; use *Map or
// json.RawMessage to keep an order.
func FromGo(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case Undefined, bool, int64, float64, string, *List, *Map, *Namespace, *Func:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case json.Number:
		return jsonNumber(string(x)), nil
	case json.RawMessage:
		return DecodeJSON(x)
	case []any:
		l := &List{Items: make([]Value, len(x))}
		for i, it := range x {
			c, err := FromGo(it)
			if err != nil {
				return nil, err
			}
			l.Items[i] = c
		}
		return l, nil
	case []string:
		l := &List{Items: make([]Value, len(x))}
		for i, it := range x {
			l.Items[i] = it
		}
		return l, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := NewMap()
		for _, k := range keys {
			c, err := FromGo(x[k])
			if err != nil {
				return nil, err
			}
			m.Set(k, c)
		}
		return m, nil
	}
	// Anything else (structs, typed slices, numbers of other widths) goes
	// through encoding/json, which keeps struct field order.
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot pass %T to a template: %w", v, err)
	}
	return DecodeJSON(data)
}

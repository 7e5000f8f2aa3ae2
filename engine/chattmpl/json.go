package chattmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// int64, as @huggingface/jinja (JavaScript) sees 1.0 as the integer 1.
func DecodeJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := NewMap()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %v, not a string", kt)
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				m.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			l := &List{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				l.Items = append(l.Items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return jsonNumber(string(t)), nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
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

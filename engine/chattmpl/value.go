package chattmpl

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Value is a template value. The dynamic types are:
//
//	nil        none / null
//	Undefined  a missing variable or attribute
//	bool, int64, float64, string
//	*List      list or tuple
//	*Map       ordered mapping with string keys (JSON objects keep their key order)
//	*Namespace the mutable object namespace() returns
//	*Func      a callable: global function, macro, bound method
type Value = any

// Undefined is the value of a missing variable or attribute. It renders as "",
// is falsy and yields Undefined on attribute access; calling it is an error.
type Undefined struct {
	Name string // what was looked up, for error messages
}

// List is a Jinja list (or tuple). It is a pointer so list.append is visible
// to every holder, as in Python.
type List struct {
	Items []Value
	Tuple bool
}

// Map is an ordered string-keyed mapping. Keys keep their first insertion
// order, so a JSON object decoded into a Map is rendered by tojson exactly in
// the caller's order.
type Map struct {
	keys []string
	vals []Value
	idx  map[string]int
}

// NewMap returns an empty ordered map.
func NewMap() *Map { return &Map{idx: map[string]int{}} }

// Len is the number of keys.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

// Get returns the value stored under k.
func (m *Map) Get(k string) (Value, bool) {
	if m == nil {
		return nil, false
	}
	i, ok := m.idx[k]
	if !ok {
		return nil, false
	}
	return m.vals[i], true
}

// Set stores v under k; an existing key keeps its position.
func (m *Map) Set(k string, v Value) {
	if i, ok := m.idx[k]; ok {
		m.vals[i] = v
		return
	}
	if m.idx == nil {
		m.idx = map[string]int{}
	}
	m.idx[k] = len(m.keys)
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

// Keys returns the keys in insertion order (the slice is shared; do not modify).
func (m *Map) Keys() []string {
	if m == nil {
		return nil
	}
	return m.keys
}

// Values returns the values in key order (shared; do not modify).
func (m *Map) Values() []Value {
	if m == nil {
		return nil
	}
	return m.vals
}

// Delete removes k, keeping the order of the rest.
func (m *Map) Delete(k string) (Value, bool) {
	i, ok := m.idx[k]
	if !ok {
		return nil, false
	}
	v := m.vals[i]
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
	m.vals = append(m.vals[:i], m.vals[i+1:]...)
	delete(m.idx, k)
	for j := i; j < len(m.keys); j++ {
		m.idx[m.keys[j]] = j
	}
	return v, true
}

func (m *Map) clone() *Map {
	n := &Map{keys: append([]string(nil), m.keys...), vals: append([]Value(nil), m.vals...), idx: make(map[string]int, len(m.keys))}
	for i, k := range n.keys {
		n.idx[k] = i
	}
	return n
}

// Namespace is the object namespace() creates: the one value whose attributes
// a template may assign ({% set ns.x = ... %}), so state survives loop scopes.
type Namespace struct{ Attrs *Map }

// Func is a callable value. sc is the caller's scope (macros see it, as in
// @huggingface/jinja); kw holds keyword arguments in call order (may be nil).
type Func struct {
	Name string
	Call func(st *state, sc *scope, args []Value, kw *Map) (Value, error)
}

func newList(items []Value) *List { return &List{Items: items} }

// typeName is the name of v's type in error messages.
func typeName(v Value) string {
	switch v := v.(type) {
	case nil:
		return "none"
	case Undefined:
		return "undefined"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case *List:
		if v.Tuple {
			return "tuple"
		}
		return "list"
	case *Map:
		return "mapping"
	case *Namespace:
		return "namespace"
	case *Func:
		return "function"
	case *loopValue:
		return "loop"
	}
	return fmt.Sprintf("%T", v)
}

// truthy is Python truthiness.
func truthy(v Value) bool {
	switch v := v.(type) {
	case nil, Undefined:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case *List:
		return len(v.Items) > 0
	case *Map:
		return v.Len() > 0
	}
	return true
}

// toStr renders v the way @huggingface/jinja prints it: none and undefined as
// "", booleans as true/false, floats with a ".0" when integral, containers as
// JSON (undefined members as "undefined").
func toStr(v Value) string {
	switch v := v.(type) {
	case nil, Undefined:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return floatString(v)
	case *loopValue:
		return toStr(v.asMap())
	case *List, *Map, *Namespace:
		var b strings.Builder
		if err := writeJSON(&b, v, jsonOpts{itemSep: ", ", keySep: ": ", undefinedLiteral: true}, 0); err != nil {
			return ""
		}
		return b.String()
	case *Func:
		return "<function " + v.Name + ">"
	}
	return fmt.Sprint(v)
}

// concatStr converts an operand of + or ~ to a string the way
// @huggingface/jinja does (JavaScript's toString of the underlying value):
// floats in shortest form ("1", not "1.0"), lists as their items joined by
// "," (items printed as toStr, none as "null"), mappings as "[object Map]".
func concatStr(v Value) string {
	switch v := v.(type) {
	case float64:
		return jsNumber(v)
	case *List:
		parts := make([]string, len(v.Items))
		for i, it := range v.Items {
			switch it.(type) {
			case nil:
				parts[i] = "null"
			case Undefined:
				parts[i] = "undefined"
			default:
				parts[i] = toStr(it)
			}
		}
		return strings.Join(parts, ",")
	case *Map, *Namespace:
		return "[object Map]"
	}
	return toStr(v)
}

// floatString prints a float as @huggingface/jinja does: integral values with
// one decimal ("2.0"), others with JavaScript's shortest form.
func floatString(f float64) string {
	if f == 0 && math.Signbit(f) {
		return "-0.0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return jsNumber(f)
}

// jsNumber formats f as JavaScript's Number.prototype.toString does.
func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	neg := f < 0
	if neg {
		f = -f
	}
	// Shortest round-trip digits and decimal exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expStr)
	n := exp + 1 // position of the decimal point relative to digits
	k := len(digits)
	var s string
	switch {
	case k <= n && n <= 21:
		s = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		s = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		s = "0." + strings.Repeat("0", -n) + digits
	default:
		sign := "+"
		if n-1 < 0 {
			sign = "-"
		}
		ex := n - 1
		if ex < 0 {
			ex = -ex
		}
		if k == 1 {
			s = digits + "e" + sign + strconv.Itoa(ex)
		} else {
			s = digits[:1] + "." + digits[1:] + "e" + sign + strconv.Itoa(ex)
		}
	}
	if neg {
		s = "-" + s
	}
	return s
}

// number returns v as a float for arithmetic; bools count as 0/1.
func number(v Value) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// equal is Python equality: numbers across int/float/bool, deep for containers.
func equal(a, b Value) bool { return equalDepth(a, b, 0) }

func equalDepth(a, b Value, depth int) bool {
	if depth > maxValueDepth {
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case Undefined:
		_, ok := b.(Undefined)
		return ok
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64, float64, bool:
		if xb, ok := a.(bool); ok {
			if yb, ok := b.(bool); ok {
				return xb == yb
			}
		}
		fx, _ := number(a)
		fy, ok := number(b)
		if _, isStr := b.(string); isStr {
			return false
		}
		if xi, ok1 := a.(int64); ok1 {
			if yi, ok2 := b.(int64); ok2 {
				return xi == yi
			}
		}
		return ok && fx == fy
	case *List:
		y, ok := b.(*List)
		if !ok || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !equalDepth(x.Items[i], y.Items[i], depth+1) {
				return false
			}
		}
		return true
	case *Map:
		y, ok := b.(*Map)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i, k := range x.keys {
			yv, ok := y.Get(k)
			if !ok || !equalDepth(x.vals[i], yv, depth+1) {
				return false
			}
		}
		return true
	case *Namespace:
		y, ok := b.(*Namespace)
		return ok && x == y
	case *Func:
		y, ok := b.(*Func)
		return ok && x == y
	}
	return false
}

// compare orders two values for sort and <, >: numbers, strings (optionally
// case-insensitive), lists lexicographically.
func compare(a, b Value, caseSensitive bool) (int, error) {
	return compareDepth(a, b, caseSensitive, 0)
}

func compareDepth(a, b Value, caseSensitive bool, depth int) (int, error) {
	if depth > maxValueDepth {
		return 0, errf("values nested too deeply to compare")
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			switch {
			case fa < fb:
				return -1, nil
			case fa > fb:
				return 1, nil
			}
			return 0, nil
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			if !caseSensitive {
				x, y = strings.ToLower(x), strings.ToLower(y)
			}
			return strings.Compare(x, y), nil
		}
	case *List:
		if y, ok := b.(*List); ok {
			for i := 0; i < len(x.Items) && i < len(y.Items); i++ {
				c, err := compareDepth(x.Items[i], y.Items[i], caseSensitive, depth+1)
				if err != nil || c != 0 {
					return c, err
				}
			}
			return compareInts(len(x.Items), len(y.Items)), nil
		}
	case nil:
		if b == nil {
			return 0, nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(b))
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortValues sorts in place with compare, reporting the first comparison error.
func sortValues(items []Value, key func(Value) Value, caseSensitive, reverse bool) error {
	var err error
	sort.SliceStable(items, func(i, j int) bool {
		c, e := compare(key(items[i]), key(items[j]), caseSensitive)
		if e != nil && err == nil {
			err = e
		}
		if reverse {
			return c > 0
		}
		return c < 0
	})
	return err
}

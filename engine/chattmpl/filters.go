package chattmpl

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type filterFunc func(st *state, sc *scope, v Value, args []Value, kw *Map) (Value, error)

var filters map[string]filterFunc

func init() {
	filters = map[string]filterFunc{
		"abs":        filterAbs,
		"attr":       filterAttr,
		"batch":      filterBatch,
		"bool":       func(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) { return truthy(v), nil },
		"capitalize": stringFilter(capitalize),
		"count":      filterLength,
		"d":          filterDefault,
		"default":    filterDefault,
		"dictsort":   filterDictsort,
		"e":          filterEscape,
		"escape":     filterEscape,
		"first":      filterFirst,
		"float":      filterFloat,
		"indent":     filterIndent,
		"int":        filterInt,
		"items":      filterItems,
		"join":       filterJoin,
		"last":       filterLast,
		"length":     filterLength,
		"list":       filterList,
		"lower":      stringFilter(strings.ToLower),
		"map":        filterMap,
		"max":        filterMinMax(1),
		"min":        filterMinMax(-1),
		"reject":     filterSelect(false),
		"rejectattr": filterSelectAttr(false),
		"replace":    filterReplace,
		"reverse":    filterReverse,
		"round":      filterRound,
		"safe":       func(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) { return v, nil },
		"select":     filterSelect(true),
		"selectattr": filterSelectAttr(true),
		"sort":       filterSort,
		"string":     func(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) { return toStr(v), nil },
		"sum":        filterSum,
		"title":      stringFilter(titleCase),
		"tojson":     filterToJSON,
		"trim":       filterTrim,
		"unique":     filterUnique,
		"upper":      stringFilter(strings.ToUpper),
		"wordcount": func(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
			return int64(len(strings.FieldsFunc(toStr(v), isJSSpace))), nil
		},
	}
}

func (st *state) applyFilterChain(f *filterExpr, sc *scope, operand Value) (Value, error) {
	var v Value
	var err error
	switch inner, isFilter := f.x.(*filterExpr); {
	case f.x == nil:
		v = operand
	case isFilter && operand != nil:
		v, err = st.applyFilterChain(inner, sc, operand)
	default:
		v, err = st.eval(f.x, sc)
	}
	if err != nil {
		return nil, err
	}
	args, kw, err := st.evalArgs(f.args, f.kwargs, sc)
	if err != nil {
		return nil, err
	}
	return st.callFilter(f.exprPos(), f.name, sc, v, args, kw)
}

func (st *state) callFilter(at int, name string, sc *scope, v Value, args []Value, kw *Map) (Value, error) {
	fn, ok := filters[name]
	if !ok {
		return nil, errorAt(at, errf("unknown filter %q", name))
	}
	switch x := v.(type) { // filters do work proportional to their operand
	case *List:
		err := st.stepN(len(x.Items))
		if err != nil {
			return nil, errorAt(at, err)
		}
	case string:
		if err := st.stepN(len(x) / 64); err != nil {
			return nil, errorAt(at, err)
		}
	}
	r, err := fn(st, sc, v, args, kw)
	if err != nil {
		return nil, errorAt(at, errf("filter %s: %s", name, err.Error()))
	}
	return r, nil
}

func stringFilter(f func(string) string) filterFunc {
	return func(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
		if _, u := v.(Undefined); u {
			return "", nil
		}
		return f(toStr(v)), nil
	}
}

func filterAbs(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	switch n := v.(type) {
	case int64:
		if n < 0 {
			return -n, nil
		}
		return n, nil
	case float64:
		return math.Abs(n), nil
	case bool:
		return asInt(n), nil
	}
	return nil, errf("expected a number, got %s", typeName(v))
}

func filterAttr(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	return getAttr(v, arg(args, kw, 0, "name", nil))
}

func filterBatch(st *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	n, err := intArg("batch", arg(args, kw, 0, "linecount", nil), "linecount")
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, errf("linecount must be positive")
	}
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	fill, hasFill := kw.Get("fill_with")
	if len(args) > 1 {
		fill, hasFill = args[1], true
	}
	out := &List{}
	for i := 0; i < len(items); i += int(min(n, int64(len(items)))) {
		end := min(i+int(min(n, int64(len(items)))), len(items))
		row := newList(append([]Value(nil), items[i:end]...))
		for hasFill && int64(len(row.Items)) < n {
			row.Items = append(row.Items, fill)
		}
		out.Items = append(out.Items, row)
	}
	return out, nil
}

func filterDefault(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	def := arg(args, kw, 0, "default_value", "")
	boolean := truthy(arg(args, kw, 1, "boolean", false))
	if _, u := v.(Undefined); u || (boolean && !truthy(v)) {
		return def, nil
	}
	return v, nil
}

func filterDictsort(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	m, ok := v.(*Map)
	if !ok {
		return nil, errf("expected a mapping, got %s", typeName(v))
	}
	cs := truthy(arg(args, kw, 0, "case_sensitive", false))
	by, err := stringArg("dictsort", arg(args, kw, 1, "by", "key"), "by")
	if err != nil {
		return nil, err
	}
	if by != "key" && by != "value" {
		return nil, errf("by must be 'key' or 'value'")
	}
	idx := 0
	if by == "value" {
		idx = 1
	}
	items := mapItems(m).Items
	err = sortValues(items, func(x Value) Value { return x.(*List).Items[idx] }, cs, truthy(arg(args, kw, 2, "reverse", false)))
	return newList(items), err
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

func filterEscape(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	return htmlEscaper.Replace(toStr(v)), nil
}

func filterFirst(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return Undefined{Name: "first item"}, nil
	}
	return items[0], nil
}

func filterLast(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return Undefined{Name: "last item"}, nil
	}
	return items[len(items)-1], nil
}

// jsParseNumber reads the longest numeric prefix after leading whitespace, as
// JavaScript's parseInt(s, 10) / parseFloat(s) do.
func jsParseNumber(s string, float bool) (float64, bool) {
	s = strings.TrimLeftFunc(s, isJSSpace)
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := end
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	if float {
		if end < len(s) && s[end] == '.' {
			end++
			for end < len(s) && isDigit(s[end]) {
				end++
			}
		}
		if end > digits && end < len(s) && (s[end] == 'e' || s[end] == 'E') {
			e := end + 1
			if e < len(s) && (s[e] == '+' || s[e] == '-') {
				e++
			}
			if e < len(s) && isDigit(s[e]) {
				for e < len(s) && isDigit(s[e]) {
					e++
				}
				end = e
			}
		}
		if strings.HasPrefix(s[digits:], "Infinity") {
			return math.Inf(map[bool]int{true: -1, false: 1}[s[0] == '-']), true
		}
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

func filterInt(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	def := arg(args, kw, 0, "default", int64(0))
	switch n := v.(type) {
	case int64:
		return n, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return def, nil
		}
		return int64(n), nil
	case bool:
		return asInt(n), nil
	case string:
		f, ok := jsParseNumber(n, false)
		if !ok {
			return def, nil
		}
		return int64(f), nil
	}
	return def, nil
}

func filterFloat(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	def := arg(args, kw, 0, "default", 0.0)
	switch n := v.(type) {
	case int64:
		return float64(n), nil
	case float64:
		return n, nil
	case bool:
		return float64(asInt(n)), nil
	case string:
		f, ok := jsParseNumber(n, true)
		if !ok {
			return def, nil
		}
		return f, nil
	}
	return def, nil
}

func filterIndent(st *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	var pad string
	switch w := arg(args, kw, 0, "width", int64(4)).(type) {
	case int64:
		if w > 1<<16 || w < 0 {
			return nil, errf("width %d out of range", w)
		}
		pad = strings.Repeat(" ", int(w))
	case string:
		pad = w
	default:
		return nil, errf("width must be an integer or a string, got %s", typeName(w))
	}
	first := truthy(arg(args, kw, 1, "first", false))
	blank := truthy(arg(args, kw, 2, "blank", false))
	lines := strings.Split(toStr(v), "\n")
	for i, l := range lines {
		if (i == 0 && !first) || (l == "" && !blank) {
			continue
		}
		lines[i] = pad + l
	}
	s := strings.Join(lines, "\n")
	return s, st.checkLen(len(s))
}

func filterItems(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	switch m := v.(type) {
	case *Map:
		return mapItems(m), nil
	case *Namespace:
		return mapItems(m.Attrs), nil
	case Undefined:
		return newList(nil), nil
	}
	return nil, errf("expected a mapping, got %s", typeName(v))
}

func filterJoin(st *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	sep, err := stringArg("join", arg(args, kw, 0, "d", arg(nil, kw, -1, "separator", "")), "the separator")
	if err != nil {
		return nil, err
	}
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	attr := arg(args, kw, 1, "attribute", nil)
	parts := make([]string, len(items))
	n := 0
	for i, it := range items {
		if attr != nil {
			it = attrPath(it, attr)
		}
		parts[i] = toStr(it)
		n += len(parts[i]) + len(sep)
	}
	if err := st.checkLen(n); err != nil {
		return nil, err
	}
	return strings.Join(parts, sep), nil
}

func filterLength(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	switch x := v.(type) {
	case string:
		return int64(utf8.RuneCountInString(x)), nil
	case *List:
		return int64(len(x.Items)), nil
	case *Map:
		return int64(x.Len()), nil
	case *Namespace:
		return int64(x.Attrs.Len()), nil
	case Undefined:
		return int64(0), nil
	}
	return nil, errf("%s has no length", typeName(v))
}

func filterList(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	return newList(items), nil
}

// attrPath follows a dotted attribute path ("function.name", "0").
func attrPath(v Value, path Value) Value {
	if n, ok := path.(int64); ok {
		r, _ := getAttr(v, n)
		return r
	}
	p := toStr(path)
	for _, part := range strings.Split(p, ".") {
		var key Value = part
		if _, isList := v.(*List); isList {
			if i, err := strconv.ParseInt(part, 10, 64); err == nil {
				key = i
			}
		}
		v, _ = getAttr(v, key)
	}
	return v
}

func filterMap(st *state, sc *scope, v Value, args []Value, kw *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	out := &List{Items: make([]Value, len(items))}
	if attr, ok := kw.Get("attribute"); ok {
		def, hasDef := kw.Get("default")
		for i, it := range items {
			r := attrPath(it, attr)
			if _, u := r.(Undefined); u && hasDef {
				r = def
			}
			out.Items[i] = r
		}
		return out, nil
	}
	if len(args) == 0 {
		return nil, errf("map needs a filter name or attribute=")
	}
	name, err := stringArg("map", args[0], "the filter name")
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		if err := st.step(); err != nil {
			return nil, err
		}
		r, err := st.callFilter(-1, name, sc, it, args[1:], kw)
		if err != nil {
			return nil, err
		}
		out.Items[i] = r
	}
	return out, nil
}

func filterMinMax(sign int) filterFunc {
	return func(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
		items, err := iterate(v, "")
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return Undefined{Name: "min/max of an empty sequence"}, nil
		}
		cs := truthy(arg(args, kw, 0, "case_sensitive", false))
		attr := arg(args, kw, 1, "attribute", nil)
		key := func(x Value) Value {
			if attr != nil {
				return attrPath(x, attr)
			}
			return x
		}
		best := items[0]
		for _, it := range items[1:] {
			c, err := compare(key(it), key(best), cs)
			if err != nil {
				return nil, err
			}
			if c*sign > 0 {
				best = it
			}
		}
		return best, nil
	}
}

func (st *state) runTest(name string, v Value, args []Value) (bool, error) {
	t, ok := tests[name]
	if !ok {
		return false, errf("unknown test %q", name)
	}
	return t(v, args)
}

func filterSelect(keep bool) filterFunc {
	return func(st *state, _ *scope, v Value, args []Value, _ *Map) (Value, error) {
		items, err := iterate(v, "")
		if err != nil {
			return nil, err
		}
		out := &List{}
		for _, it := range items {
			var ok bool
			if len(args) == 0 {
				ok = truthy(it)
			} else {
				name, err := stringArg("select", args[0], "the test name")
				if err != nil {
					return nil, err
				}
				if ok, err = st.runTest(name, it, args[1:]); err != nil {
					return nil, err
				}
			}
			if ok == keep {
				out.Items = append(out.Items, it)
			}
		}
		return out, nil
	}
}

func filterSelectAttr(keep bool) filterFunc {
	return func(st *state, _ *scope, v Value, args []Value, _ *Map) (Value, error) {
		items, err := iterate(v, "")
		if err != nil {
			return nil, err
		}
		if len(args) == 0 {
			return nil, errf("needs an attribute name")
		}
		out := &List{}
		for _, it := range items {
			a := attrPath(it, args[0])
			var ok bool
			if len(args) == 1 {
				ok = truthy(a)
			} else {
				name, err := stringArg("selectattr", args[1], "the test name")
				if err != nil {
					return nil, err
				}
				if ok, err = st.runTest(name, a, args[2:]); err != nil {
					return nil, err
				}
			}
			if ok == keep {
				out.Items = append(out.Items, it)
			}
		}
		return out, nil
	}
}

func filterReplace(st *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	r, err := replaceString(toStr(v), args, kw)
	if err != nil {
		return nil, err
	}
	return r, st.checkLen(len(r.(string)))
}

func filterReverse(_ *state, _ *scope, v Value, _ []Value, _ *Map) (Value, error) {
	if s, ok := v.(string); ok {
		rs := []rune(s)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		return string(rs), nil
	}
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return newList(items), nil
}

func filterRound(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	f, ok := number(v)
	if !ok {
		return nil, errf("expected a number, got %s", typeName(v))
	}
	prec, err := intArg("round", arg(args, kw, 0, "precision", int64(0)), "precision")
	if err != nil {
		return nil, err
	}
	method, err := stringArg("round", arg(args, kw, 1, "method", "common"), "method")
	if err != nil {
		return nil, err
	}
	p := math.Pow(10, float64(max(min(prec, 300), -300)))
	switch method {
	case "common":
		return math.Round(f*p) / p, nil
	case "ceil":
		return math.Ceil(f*p) / p, nil
	case "floor":
		return math.Floor(f*p) / p, nil
	}
	return nil, errf("method must be common, ceil or floor")
}

func filterSort(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	reverse := truthy(arg(args, kw, 0, "reverse", false))
	cs := truthy(arg(args, kw, 1, "case_sensitive", false))
	attr := arg(args, kw, 2, "attribute", nil)
	key := func(x Value) Value {
		if attr != nil {
			return attrPath(x, attr)
		}
		return x
	}
	err = sortValues(items, key, cs, reverse)
	return newList(items), err
}

func filterSum(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	attr := arg(args, kw, 0, "attribute", nil)
	total := arg(args, kw, 1, "start", int64(0))
	for _, it := range items {
		if attr != nil {
			it = attrPath(it, attr)
		}
		a, ok1 := number(total)
		b, ok2 := number(it)
		if !ok1 || !ok2 {
			return nil, errf("cannot add %s", typeName(it))
		}
		if isInt(total) && isInt(it) {
			total = asInt(total) + asInt(it)
		} else {
			total = a + b
		}
	}
	return total, nil
}

func filterToJSON(st *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	indent := 0
	switch n := arg(args, kw, 0, "indent", nil).(type) {
	case nil:
	case int64:
		if n > 64 {
			return nil, errf("indent %d is too large", n)
		}
		indent = int(n)
	default:
		return nil, errf("indent must be an integer, got %s", typeName(n))
	}
	var seps []string
	switch s := arg(nil, kw, -1, "separators", nil).(type) {
	case nil:
	case *List:
		if len(s.Items) != 2 {
			return nil, errf("separators must be two strings")
		}
		a, ok1 := s.Items[0].(string)
		b, ok2 := s.Items[1].(string)
		if !ok1 || !ok2 {
			return nil, errf("separators must be two strings")
		}
		seps = []string{a, b}
	default:
		return nil, errf("separators must be two strings, got %s", typeName(s))
	}
	o := newJSONOpts(indent, seps, truthy(arg(nil, kw, -1, "ensure_ascii", false)), truthy(arg(nil, kw, -1, "sort_keys", false)))
	var b strings.Builder
	if err := writeJSON(&b, v, o, 0); err != nil {
		return nil, err
	}
	return b.String(), st.checkLen(b.Len())
}

func filterTrim(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	if _, u := v.(Undefined); u {
		return "", nil
	}
	return stripChars(toStr(v), arg(args, kw, 0, "chars", nil), true, true)
}

func filterUnique(_ *state, _ *scope, v Value, args []Value, kw *Map) (Value, error) {
	items, err := iterate(v, "")
	if err != nil {
		return nil, err
	}
	cs := truthy(arg(args, kw, 0, "case_sensitive", true))
	attr := arg(args, kw, 1, "attribute", nil)
	out := &List{}
	seenKey := map[any]bool{} // strings, integers, booleans, none
	var seen []Value          // the rest, compared one by one
	for _, it := range items {
		k := it
		if attr != nil {
			k = attrPath(it, attr)
		}
		if s, ok := k.(string); ok && !cs {
			k = strings.ToLower(s)
		}
		var hk any
		switch x := k.(type) {
		case string:
			hk = "s" + x
		case int64:
			hk = x
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
				hk = int64(x)
			} else {
				hk = x
			}
		case bool:
			hk = asInt(x)
		case nil:
			hk = struct{}{}
		}
		dup := false
		if hk != nil {
			dup = seenKey[hk]
			seenKey[hk] = true
		} else {
			for _, s := range seen {
				if equal(s, k) {
					dup = true
					break
				}
			}
			if !dup {
				seen = append(seen, k)
			}
		}
		if !dup {
			out.Items = append(out.Items, it)
		}
	}
	return out, nil
}

// tests are the `is` tests.
var tests map[string]func(v Value, args []Value) (bool, error)

func init() {
	isType := func(f func(Value) bool) func(Value, []Value) (bool, error) {
		return func(v Value, _ []Value) (bool, error) { return f(v), nil }
	}
	needArg := func(name string, f func(a, b Value) (bool, error)) func(Value, []Value) (bool, error) {
		return func(v Value, args []Value) (bool, error) {
			if len(args) != 1 {
				return false, errf("the %s test takes one argument", name)
			}
			return f(v, args[0])
		}
	}
	cmp := func(name string, ok func(int) bool) func(Value, []Value) (bool, error) {
		return needArg(name, func(a, b Value) (bool, error) {
			c, err := compare(a, b, true)
			return err == nil && ok(c), err
		})
	}
	eq := needArg("eq", func(a, b Value) (bool, error) { return equal(a, b), nil })
	ne := needArg("ne", func(a, b Value) (bool, error) { return !equal(a, b), nil })
	intTest := func(name string, f func(int64) bool) func(Value, []Value) (bool, error) {
		return func(v Value, _ []Value) (bool, error) {
			n, ok := v.(int64)
			if !ok {
				return false, errf("the %s test needs an integer, got %s", name, typeName(v))
			}
			return f(n), nil
		}
	}
	tests = map[string]func(Value, []Value) (bool, error){
		"boolean":  isType(func(v Value) bool { _, ok := v.(bool); return ok }),
		"callable": isType(func(v Value) bool { _, ok := v.(*Func); return ok }),
		"defined":  isType(func(v Value) bool { _, ok := v.(Undefined); return !ok }),
		"undefined": isType(func(v Value) bool {
			_, ok := v.(Undefined)
			return ok
		}),
		"none":    isType(func(v Value) bool { return v == nil }),
		"string":  isType(func(v Value) bool { _, ok := v.(string); return ok }),
		"number":  isType(func(v Value) bool { _, i := v.(int64); _, f := v.(float64); return i || f }),
		"integer": isType(func(v Value) bool { _, ok := v.(int64); return ok }),
		"float":   isType(func(v Value) bool { _, ok := v.(float64); return ok }),
		"true":    isType(func(v Value) bool { b, ok := v.(bool); return ok && b }),
		"false":   isType(func(v Value) bool { b, ok := v.(bool); return ok && !b }),
		"mapping": isType(func(v Value) bool { _, ok := v.(*Map); return ok }),
		// As in @huggingface/jinja: lists and strings (not mappings).
		"iterable": isType(func(v Value) bool {
			switch v.(type) {
			case *List, string:
				return true
			}
			return false
		}),
		"sequence": isType(func(v Value) bool {
			switch v.(type) {
			case *List, string, *Map:
				return true
			}
			return false
		}),
		"lower":   isType(func(v Value) bool { s, ok := v.(string); return ok && s == strings.ToLower(s) }),
		"upper":   isType(func(v Value) bool { s, ok := v.(string); return ok && s == strings.ToUpper(s) }),
		"escaped": isType(func(Value) bool { return false }),
		"odd":     intTest("odd", func(n int64) bool { return n%2 != 0 }),
		"even":    intTest("even", func(n int64) bool { return n%2 == 0 }),
		"divisibleby": needArg("divisibleby", func(a, b Value) (bool, error) {
			x, ok1 := a.(int64)
			y, ok2 := b.(int64)
			if !ok1 || !ok2 {
				return false, errf("divisibleby needs integers")
			}
			if y == 0 {
				return false, errf("divisibleby 0")
			}
			return x%y == 0, nil
		}),
		"eq": eq, "equalto": eq, "==": eq,
		"ne": ne, "!=": ne,
		"lt": cmp("lt", func(c int) bool { return c < 0 }), "lessthan": cmp("lt", func(c int) bool { return c < 0 }),
		"le": cmp("le", func(c int) bool { return c <= 0 }),
		"gt": cmp("gt", func(c int) bool { return c > 0 }), "greaterthan": cmp("gt", func(c int) bool { return c > 0 }),
		"ge": cmp("ge", func(c int) bool { return c >= 0 }),
		"in": needArg("in", func(a, b Value) (bool, error) { return contains(b, a) }),
		"sameas": needArg("sameas", func(a, b Value) (bool, error) {
			switch a.(type) {
			case *List, *Map, *Namespace, *Func:
				return a == b, nil
			}
			return equal(a, b), nil
		}),
	}
}

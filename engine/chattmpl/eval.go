package chattmpl

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Limits that keep a hostile or broken template from hanging or exhausting
// memory. A chat prompt is at most a few megabytes.
const (
	defaultMaxSteps  = 200_000_000 // evaluated nodes and expressions
	defaultMaxOutput = 256 << 20   // bytes of output, and of any one string built
	maxCallDepth     = 256         // nested macro calls
	maxRangeLen      = 1 << 22     // default for items range() and list * may produce
	maxListLen       = 1 << 22     // items list.append/extend may grow a list to
	maxValueDepth    = 256         // nesting compared by == / sort
	allocFactor      = 8           // all strings built: at most this many times the output limit
)

// state is one rendering.
type state struct {
	steps, maxSteps int64
	out, maxOut     int64
	built           int64 // bytes of strings built by ~, +, * and string filters
	maxItems        int   // longest list range(), append and * may build
	callDepth       int
	now             func() time.Time
	globals         map[string]Value
}

// scope holds variables; a for loop and a macro call open a child scope.
type scope struct {
	vars   map[string]Value
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{vars: map[string]Value{}, parent: parent} }

func (st *state) lookup(sc *scope, name string) Value {
	for s := sc; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v
		}
	}
	if v, ok := st.globals[name]; ok {
		return v
	}
	return Undefined{Name: name}
}

// runtimeError is an evaluation error at a source offset.
type runtimeError struct {
	pos    int
	msg    string
	raised bool // from raise_exception: msg is the template's own message
}

func (e *runtimeError) Error() string { return e.msg }

// errorAt attaches a position to err unless it already has one.
func errorAt(p int, err error) error {
	var re *runtimeError
	if errors.As(err, &re) {
		if re.pos < 0 {
			re.pos = p
		}
		return re
	}
	return &runtimeError{pos: p, msg: err.Error()}
}

func errf(format string, args ...any) error {
	return &runtimeError{pos: -1, msg: fmt.Sprintf(format, args...)}
}

func (st *state) step() error {
	st.steps++
	if st.steps > st.maxSteps {
		return errf("template did not finish within %d evaluation steps (endless loop?)", st.maxSteps)
	}
	return nil
}

// stepN charges n steps at once, for work proportional to a list's length.
func (st *state) stepN(n int) error {
	st.steps += int64(n)
	return st.step()
}

// checkLen guards the size of any string a template builds, and the bytes
// built in all (a bound on memory: values are never larger than the output
// limit, and all of them together at most allocFactor times it).
func (st *state) checkLen(n int) error {
	if int64(n) > st.maxOut {
		return errf("template builds a value of %d bytes, more than the limit of %d", n, st.maxOut)
	}
	st.built += int64(n)
	if st.built > allocFactor*st.maxOut {
		return errf("template builds more than %d bytes of strings in all", allocFactor*st.maxOut)
	}
	return nil
}

func (st *state) write(w *strings.Builder, s string) error {
	st.out += int64(len(s))
	if st.out > st.maxOut {
		return errf("template output exceeds %d bytes", st.maxOut)
	}
	w.WriteString(s)
	return nil
}

type ctl uint8

const (
	ctlNone ctl = iota
	ctlBreak
	ctlContinue
)

func (st *state) exec(nodes []node, sc *scope, w *strings.Builder) (ctl, error) {
	for _, n := range nodes {
		if err := st.step(); err != nil {
			return ctlNone, errorAt(n.nodePos(), err)
		}
		switch n := n.(type) {
		case *textNode:
			if err := st.write(w, n.text); err != nil {
				return ctlNone, err
			}
		case *outputNode:
			v, err := st.eval(n.x, sc)
			if err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
			if err := st.write(w, toStr(v)); err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
		case *ifNode:
			c, err := st.eval(n.cond, sc)
			if err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
			body := n.els
			if truthy(c) {
				body = n.then
			}
			if k, err := st.exec(body, sc, w); err != nil || k != ctlNone {
				return k, err
			}
		case *forNode:
			if err := st.execFor(n, sc, w); err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
		case *setNode:
			if err := st.execSet(n, sc); err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
		case *macroNode:
			sc.vars[n.name] = st.macroFunc(n.name, n.params, n.body, nil)
		case *callBlockNode:
			if err := st.execCallBlock(n, sc, w); err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
		case *filterBlockNode:
			var b strings.Builder
			if _, err := st.exec(n.body, sc, &b); err != nil {
				return ctlNone, err
			}
			st.out -= int64(b.Len()) // counted again when written below
			v, err := st.applyFilterChain(n.filter, sc, b.String())
			if err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
			if err := st.write(w, toStr(v)); err != nil {
				return ctlNone, errorAt(n.nodePos(), err)
			}
		case *breakNode:
			return ctlBreak, nil
		case *continueNode:
			return ctlContinue, nil
		default:
			return ctlNone, errf("internal error: unknown node %T", n)
		}
	}
	return ctlNone, nil
}

// iterate lists what a for loop or a filter walks over: list items, mapping
// keys, string characters; undefined is empty (as in Jinja2), none an error.
func iterate(v Value, what string) ([]Value, error) {
	switch v := v.(type) {
	case *List:
		return append([]Value(nil), v.Items...), nil
	case *Map:
		out := make([]Value, len(v.keys))
		for i, k := range v.keys {
			out[i] = k
		}
		return out, nil
	case *Namespace:
		out := make([]Value, len(v.Attrs.keys))
		for i, k := range v.Attrs.keys {
			out[i] = k
		}
		return out, nil
	case string:
		out := make([]Value, 0, len(v))
		for _, r := range v {
			out = append(out, string(r))
		}
		return out, nil
	case Undefined:
		return nil, nil
	case nil:
		return nil, errf("cannot iterate over none%s", what)
	}
	return nil, errf("cannot iterate over %s%s", typeName(v), what)
}

func describeExpr(x expr) string {
	switch x := x.(type) {
	case *nameExpr:
		return " ('" + x.name + "')"
	case *attrExpr:
		if x.dot {
			return " ('" + exprName(x) + "')"
		}
	}
	return ""
}

func exprName(x expr) string {
	switch x := x.(type) {
	case *nameExpr:
		return x.name
	case *attrExpr:
		if x.dot {
			if n := exprName(x.obj); n != "" {
				return n + "." + x.name
			}
		}
	}
	return ""
}

func bindTargets(sc *scope, names []string, tuple bool, v Value) error {
	if !tuple {
		sc.vars[names[0]] = v
		return nil
	}
	l, ok := v.(*List)
	if !ok {
		return errf("cannot unpack %s into %d names", typeName(v), len(names))
	}
	if len(l.Items) != len(names) {
		more := "many"
		if len(l.Items) < len(names) {
			more = "few"
		}
		return errf("too %s values to unpack (expected %d, got %d)", more, len(names), len(l.Items))
	}
	for i, n := range names {
		sc.vars[n] = l.Items[i]
	}
	return nil
}

func (st *state) execFor(n *forNode, sc *scope, w *strings.Builder) error {
	iv, err := st.eval(n.iter, sc)
	if err != nil {
		return err
	}
	items, err := iterate(iv, describeExpr(n.iter))
	if err != nil {
		return err
	}
	loopScope := newScope(sc)
	if n.filter != nil {
		kept := items[:0]
		for _, it := range items {
			if err := st.step(); err != nil {
				return err
			}
			if err := bindTargets(loopScope, n.vars, n.tuple, it); err != nil {
				return err
			}
			c, err := st.eval(n.filter, loopScope)
			if err != nil {
				return err
			}
			if truthy(c) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		_, err := st.exec(n.els, loopScope, w)
		return err
	}
	for i, it := range items {
		if err := st.step(); err != nil {
			return err
		}
		loop := &loopValue{items: items, i: i}
		loopScope.vars["loop"] = loop
		if err := bindTargets(loopScope, n.vars, n.tuple, it); err != nil {
			return err
		}
		k, err := st.exec(n.body, loopScope, w)
		if err != nil {
			return err
		}
		if k == ctlBreak {
			break
		}
	}
	return nil
}

// loopValue is the `loop` variable of a for loop: index, index0, revindex,
// revindex0, first, last, length, previtem, nextitem, depth, depth0, cycle().
type loopValue struct {
	items []Value
	i     int
}

func (l *loopValue) attr(name string) (Value, bool) {
	n := int64(len(l.items))
	i := int64(l.i)
	switch name {
	case "index":
		return i + 1, true
	case "index0":
		return i, true
	case "revindex":
		return n - i, true
	case "revindex0":
		return n - i - 1, true
	case "first":
		return i == 0, true
	case "last":
		return i == n-1, true
	case "length":
		return n, true
	case "previtem":
		if i > 0 {
			return l.items[i-1], true
		}
		return Undefined{Name: "loop.previtem"}, true
	case "nextitem":
		if i < n-1 {
			return l.items[i+1], true
		}
		return Undefined{Name: "loop.nextitem"}, true
	case "depth":
		return int64(1), true
	case "depth0":
		return int64(0), true
	case "cycle":
		idx := l.i
		return &Func{Name: "loop.cycle", Call: func(_ *state, _ *scope, args []Value, _ *Map) (Value, error) {
			if len(args) == 0 {
				return nil, errf("loop.cycle needs at least one value")
			}
			return args[idx%len(args)], nil
		}}, true
	}
	return nil, false
}

// asMap is the loop as a mapping, for printing it.
func (l *loopValue) asMap() *Map {
	m := NewMap()
	for _, k := range []string{"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem"} {
		v, _ := l.attr(k)
		m.Set(k, v)
	}
	return m
}

func (st *state) execSet(n *setNode, sc *scope) error {
	var v Value
	if n.value != nil {
		var err error
		if v, err = st.eval(n.value, sc); err != nil {
			return err
		}
	} else {
		var b strings.Builder
		if _, err := st.exec(n.body, sc, &b); err != nil {
			return err
		}
		st.out -= int64(b.Len()) // captured, not output
		v = b.String()
	}
	if n.obj != nil {
		o, err := st.eval(n.obj, sc)
		if err != nil {
			return err
		}
		ns, ok := o.(*Namespace)
		if !ok {
			return errf("cannot set attribute %q on %s%s: only a namespace() can be assigned to", n.attr, typeName(o), describeExpr(n.obj))
		}
		ns.Attrs.Set(n.attr, v)
		return nil
	}
	return bindTargets(sc, n.names, n.tuple, v)
}

// macroFunc makes a macro callable. Its body runs in a scope whose parent is
// the caller's (as @huggingface/jinja does), with the parameters bound.
func (st *state) macroFunc(name string, params []param, body []node, extra map[string]Value) *Func {
	usesVarargs, usesKwargs := usesName(body, "varargs"), usesName(body, "kwargs")
	for _, p := range params {
		if p.def != nil {
			usesVarargs = usesVarargs || exprUsesName(p.def, "varargs")
			usesKwargs = usesKwargs || exprUsesName(p.def, "kwargs")
		}
	}
	return &Func{Name: name, Call: func(st *state, caller *scope, args []Value, kw *Map) (Value, error) {
		st.callDepth++
		defer func() { st.callDepth-- }()
		if st.callDepth > maxCallDepth {
			return nil, errf("macro %s: calls nested more than %d deep (endless recursion?)", name, maxCallDepth)
		}
		ms := newScope(caller)
		for k, v := range extra {
			ms.vars[k] = v
		}
		kwLeft := NewMap()
		if kw != nil {
			kwLeft = kw.clone()
		}
		var pending []param
		for i, p := range params {
			var v Value
			have := false
			if i < len(args) {
				v, have = args[i], true
				if _, dup := kwLeft.Get(p.name); dup {
					return nil, errf("macro %s got multiple values for argument %q", name, p.name)
				}
			} else if kv, ok := kwLeft.Get(p.name); ok {
				v, have = kv, true
				kwLeft.Delete(p.name)
			}
			if !have {
				v = Undefined{Name: p.name}
				if p.def != nil {
					pending = append(pending, p)
				}
			}
			ms.vars[p.name] = v
		}
		if usesKwargs {
			ms.vars["kwargs"] = kwLeft
		} else if kwLeft.Len() > 0 {
			return nil, errf("macro %s takes no keyword argument %q", name, kwLeft.keys[0])
		}
		var rest []Value
		if len(args) > len(params) {
			rest = args[len(params):]
		}
		if usesVarargs {
			ms.vars["varargs"] = newList(append([]Value(nil), rest...))
		} else if len(rest) > 0 {
			return nil, errf("macro %s takes at most %d argument(s), got %d", name, len(params), len(args))
		}
		for _, p := range pending {
			v, err := st.eval(p.def, ms)
			if err != nil {
				return nil, err
			}
			ms.vars[p.name] = v
		}
		var b strings.Builder
		if _, err := st.exec(body, ms, &b); err != nil {
			return nil, err
		}
		st.out -= int64(b.Len()) // a return value: counted when written
		return b.String(), nil
	}}
}

func (st *state) execCallBlock(n *callBlockNode, sc *scope, w *strings.Builder) error {
	caller := st.macroFunc("caller", n.callerParams, n.body, nil)
	fn, err := st.eval(n.call.fn, sc)
	if err != nil {
		return err
	}
	args, kw, err := st.evalArgs(n.call.args, n.call.kwargs, sc)
	if err != nil {
		return err
	}
	f, ok := fn.(*Func)
	if !ok {
		return errf("cannot call %s%s", typeName(fn), describeExpr(n.call.fn))
	}
	cs := newScope(sc)
	cs.vars["caller"] = caller
	v, err := f.Call(st, cs, args, kw)
	if err != nil {
		return err
	}
	return st.write(w, toStr(v))
}

func (st *state) evalArgs(args []expr, kwargs []kwarg, sc *scope) ([]Value, *Map, error) {
	var vals []Value
	if len(args) > 0 {
		vals = make([]Value, 0, len(args))
	}
	var kw *Map
	for _, a := range args {
		sp, isSpread := a.(*spreadExpr)
		if isSpread {
			a = sp.x
		}
		v, err := st.eval(a, sc)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case !isSpread:
			vals = append(vals, v)
		case sp.kw:
			m, ok := v.(*Map)
			if !ok {
				return nil, nil, errorAt(sp.exprPos(), errf("argument after ** must be a mapping, got %s", typeName(v)))
			}
			if kw == nil {
				kw = NewMap()
			}
			for i, k := range m.keys {
				kw.Set(k, m.vals[i])
			}
		default:
			items, err := iterate(v, describeExpr(sp.x))
			if err != nil {
				return nil, nil, errorAt(sp.exprPos(), err)
			}
			vals = append(vals, items...)
		}
	}
	for _, k := range kwargs {
		v, err := st.eval(k.v, sc)
		if err != nil {
			return nil, nil, err
		}
		if kw == nil {
			kw = NewMap()
		}
		if _, dup := kw.Get(k.name); dup {
			return nil, nil, errf("got multiple values for keyword argument %q", k.name)
		}
		kw.Set(k.name, v)
	}
	return vals, kw, nil
}

func (st *state) eval(x expr, sc *scope) (Value, error) {
	if err := st.step(); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case *literal:
		return x.v, nil
	case *nameExpr:
		return st.lookup(sc, x.name), nil
	case *listLit:
		l := &List{Items: make([]Value, len(x.items)), Tuple: x.tuple}
		for i, it := range x.items {
			v, err := st.eval(it, sc)
			if err != nil {
				return nil, err
			}
			l.Items[i] = v
		}
		return l, nil
	case *dictLit:
		m := NewMap()
		for i := range x.keys {
			k, err := st.eval(x.keys[i], sc)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, errorAt(x.keys[i].exprPos(), errf("mapping keys must be strings, got %s", typeName(k)))
			}
			v, err := st.eval(x.vals[i], sc)
			if err != nil {
				return nil, err
			}
			m.Set(ks, v)
		}
		return m, nil
	case *attrExpr:
		o, err := st.eval(x.obj, sc)
		if err != nil {
			return nil, err
		}
		k, err := st.eval(x.key, sc)
		if err != nil {
			return nil, err
		}
		v, err := getAttr(o, k)
		if err != nil {
			return nil, errorAt(x.exprPos(), err)
		}
		if u, ok := v.(Undefined); ok && u.Name == "" {
			u.Name = exprName(x)
			if u.Name == "" {
				u.Name = toStr(k)
			}
			return u, nil
		}
		return v, nil
	case *sliceExpr:
		return st.evalSlice(x, sc)
	case *callExpr:
		fn, err := st.eval(x.fn, sc)
		if err != nil {
			return nil, err
		}
		args, kw, err := st.evalArgs(x.args, x.kwargs, sc)
		if err != nil {
			return nil, err
		}
		f, ok := fn.(*Func)
		if !ok {
			if u, isU := fn.(Undefined); isU {
				return nil, errorAt(x.exprPos(), errf("'%s' is undefined and cannot be called", u.Name))
			}
			return nil, errorAt(x.exprPos(), errf("cannot call %s%s", typeName(fn), describeExpr(x.fn)))
		}
		v, err := f.Call(st, sc, args, kw)
		if err != nil {
			return nil, errorAt(x.exprPos(), err)
		}
		return v, nil
	case *filterExpr:
		return st.applyFilterChain(x, sc, nil)
	case *testExpr:
		v, err := st.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		args, _, err := st.evalArgs(x.args, nil, sc)
		if err != nil {
			return nil, err
		}
		t, ok := tests[x.name]
		if !ok {
			return nil, errorAt(x.exprPos(), errf("unknown test %q", x.name))
		}
		r, err := t(v, args)
		if err != nil {
			return nil, errorAt(x.exprPos(), errf("test %s: %v", x.name, err))
		}
		return r != x.negate, nil
	case *unaryExpr:
		v, err := st.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !truthy(v), nil
		case "-":
			switch n := v.(type) {
			case int64:
				return -n, nil
			case float64:
				return -n, nil
			case bool:
				if n {
					return int64(-1), nil
				}
				return int64(0), nil
			}
		case "+":
			switch n := v.(type) {
			case int64, float64:
				return n, nil
			case bool:
				if n {
					return int64(1), nil
				}
				return int64(0), nil
			}
		}
		return nil, errorAt(x.exprPos(), errf("bad operand for unary %s: %s%s", x.op, typeName(v), describeExpr(x.x)))
	case *binaryExpr:
		return st.evalBinary(x, sc)
	case *condExpr:
		c, err := st.eval(x.cond, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return st.eval(x.a, sc)
		}
		if x.b == nil {
			return Undefined{Name: "conditional expression"}, nil
		}
		return st.eval(x.b, sc)
	}
	return nil, errf("internal error: unknown expression %T", x)
}

// getAttr is both a.b and a[b]: mapping keys first, then methods; list and
// string indexes (negative from the end). Anything missing is undefined,
// including any attribute of undefined or none.
func getAttr(o, k Value) (Value, error) {
	switch o := o.(type) {
	case *Map:
		if ks, ok := k.(string); ok {
			if v, ok := o.Get(ks); ok {
				return v, nil
			}
			if m := mapMethod(o, ks); m != nil {
				return m, nil
			}
		}
	case *Namespace:
		if ks, ok := k.(string); ok {
			if v, ok := o.Attrs.Get(ks); ok {
				return v, nil
			}
		}
	case *loopValue:
		if ks, ok := k.(string); ok {
			if v, ok := o.attr(ks); ok {
				return v, nil
			}
		}
	case *List:
		switch kk := k.(type) {
		case int64:
			i := kk
			if i < 0 {
				i += int64(len(o.Items))
			}
			if i >= 0 && i < int64(len(o.Items)) {
				return o.Items[i], nil
			}
		case bool:
			i := 0
			if kk {
				i = 1
			}
			if i < len(o.Items) {
				return o.Items[i], nil
			}
		case string:
			if m := listMethod(o, kk); m != nil {
				return m, nil
			}
		}
	case string:
		switch kk := k.(type) {
		case int64:
			rs := []rune(o)
			i := kk
			if i < 0 {
				i += int64(len(rs))
			}
			if i >= 0 && i < int64(len(rs)) {
				return string(rs[i]), nil
			}
		case string:
			if m := stringMethod(o, kk); m != nil {
				return m, nil
			}
		}
	}
	return Undefined{}, nil
}

func sliceIndices(n int, start, stop, step Value) (int, int, int, error) {
	st := 1
	if step != nil {
		if _, u := step.(Undefined); !u {
			s, ok := step.(int64)
			if !ok {
				return 0, 0, 0, errf("slice step must be an integer, got %s", typeName(step))
			}
			if s == 0 {
				return 0, 0, 0, errf("slice step cannot be zero")
			}
			st = int(max(min(s, math.MaxInt32), math.MinInt32))
		}
	}
	conv := func(v Value, def int, lo, hi int) (int, error) {
		if v == nil {
			return def, nil
		}
		if _, u := v.(Undefined); u {
			return def, nil
		}
		i, ok := v.(int64)
		if !ok {
			return 0, errf("slice index must be an integer, got %s", typeName(v))
		}
		if i < 0 {
			i += int64(n)
			if i < int64(lo) {
				i = int64(lo)
			}
		} else if i > int64(hi) {
			i = int64(hi)
		}
		return int(i), nil
	}
	var a, b int
	var err error
	if st > 0 {
		if a, err = conv(start, 0, 0, n); err != nil {
			return 0, 0, 0, err
		}
		if b, err = conv(stop, n, 0, n); err != nil {
			return 0, 0, 0, err
		}
	} else {
		if a, err = conv(start, n-1, -1, n-1); err != nil {
			return 0, 0, 0, err
		}
		if b, err = conv(stop, -1, -1, n-1); err != nil {
			return 0, 0, 0, err
		}
	}
	return a, b, st, nil
}

func (st *state) evalSlice(x *sliceExpr, sc *scope) (Value, error) {
	o, err := st.eval(x.obj, sc)
	if err != nil {
		return nil, err
	}
	var parts [3]Value
	for i, e := range []expr{x.start, x.stop, x.step} {
		if e != nil {
			if parts[i], err = st.eval(e, sc); err != nil {
				return nil, err
			}
		}
	}
	var n int
	var runes []rune
	switch o := o.(type) {
	case *List:
		n = len(o.Items)
	case string:
		runes = []rune(o)
		n = len(runes)
	default:
		return nil, errorAt(x.exprPos(), errf("cannot slice %s%s", typeName(o), describeExpr(x.obj)))
	}
	a, b, step, err := sliceIndices(n, parts[0], parts[1], parts[2])
	if err != nil {
		return nil, errorAt(x.exprPos(), err)
	}
	var idx []int
	for i := a; (step > 0 && i < b) || (step < 0 && i > b); i += step {
		idx = append(idx, i)
	}
	if l, ok := o.(*List); ok {
		out := &List{Items: make([]Value, len(idx))}
		for j, i := range idx {
			out.Items[j] = l.Items[i]
		}
		return out, nil
	}
	out := make([]rune, len(idx))
	for j, i := range idx {
		out[j] = runes[i]
	}
	return string(out), nil
}

func (st *state) evalBinary(x *binaryExpr, sc *scope) (Value, error) {
	l, err := st.eval(x.l, sc)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "and":
		if !truthy(l) {
			return l, nil
		}
		return st.eval(x.r, sc)
	case "or":
		if truthy(l) {
			return l, nil
		}
		return st.eval(x.r, sc)
	}
	r, err := st.eval(x.r, sc)
	if err != nil {
		return nil, err
	}
	v, err := st.binary(x.op, l, r)
	if err != nil {
		var re *runtimeError
		if errors.As(err, &re) && re.pos < 0 {
			re.msg += operandNames(x)
		}
		return nil, errorAt(x.exprPos(), err)
	}
	return v, nil
}

func operandNames(x *binaryExpr) string {
	var names []string
	for _, e := range []expr{x.l, x.r} {
		if n := exprName(e); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

func isInt(v Value) bool {
	switch v.(type) {
	case int64, bool:
		return true
	}
	return false
}

func asInt(v Value) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func (st *state) binary(op string, l, r Value) (Value, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in", "not in":
		in, err := contains(r, l)
		if err != nil {
			return nil, err
		}
		return in == (op == "in"), nil
	case "~":
		s := concatStr(l) + concatStr(r)
		return s, st.checkLen(len(s))
	}
	if u, ok := l.(Undefined); ok {
		return nil, errf("'%s' is undefined: cannot apply %s", u.Name, op)
	}
	if u, ok := r.(Undefined); ok {
		return nil, errf("'%s' is undefined: cannot apply %s", u.Name, op)
	}
	switch op {
	case "<", ">", "<=", ">=":
		c, err := compare(l, r, true)
		if err != nil {
			return nil, err
		}
		switch op {
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	case "+":
		switch a := l.(type) {
		case *List:
			if b, ok := r.(*List); ok {
				if len(a.Items)+len(b.Items) > st.maxItems {
					return nil, errf("list of more than %d items", st.maxItems)
				}
				items := make([]Value, 0, len(a.Items)+len(b.Items))
				return newList(append(append(items, a.Items...), b.Items...)), nil
			}
		case string:
			s := a + concatStr(r)
			return s, st.checkLen(len(s))
		}
		if b, ok := r.(string); ok {
			s := concatStr(l) + b
			return s, st.checkLen(len(s))
		}
	case "*":
		if s, n, ok := repeatOperands(l, r); ok {
			if n <= 0 {
				return "", nil
			}
			if err := st.checkLen(len(s) * int(min(n, st.maxOut+1))); err != nil {
				return nil, err
			}
			return strings.Repeat(s, int(n)), nil
		}
		if lst, n, ok := repeatList(l, r); ok {
			if n <= 0 || len(lst.Items) == 0 {
				return newList(nil), nil
			}
			if int64(len(lst.Items))*min(n, int64(st.maxItems)+1) > int64(st.maxItems) {
				return nil, errf("list of more than %d items", st.maxItems)
			}
			items := make([]Value, 0, len(lst.Items)*int(n))
			for i := int64(0); i < n; i++ {
				items = append(items, lst.Items...)
			}
			return newList(items), nil
		}
	}
	a, okA := number(l)
	b, okB := number(r)
	if !okA || !okB {
		return nil, errf("unsupported operand types for %s: %s and %s", op, typeName(l), typeName(r))
	}
	ints := isInt(l) && isInt(r)
	switch op {
	case "+", "-", "*":
		if ints {
			x, y := asInt(l), asInt(r)
			switch op {
			case "+":
				return x + y, nil
			case "-":
				return x - y, nil
			}
			return x * y, nil
		}
		switch op {
		case "+":
			return a + b, nil
		case "-":
			return a - b, nil
		}
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, errf("division by zero")
		}
		return a / b, nil
	case "//":
		if b == 0 {
			return nil, errf("integer division by zero")
		}
		if ints {
			x, y := asInt(l), asInt(r)
			q := x / y
			if (x%y != 0) && ((x < 0) != (y < 0)) {
				q--
			}
			return q, nil
		}
		return math.Floor(a / b), nil
	case "%":
		if b == 0 {
			return nil, errf("modulo by zero")
		}
		if ints {
			x, y := asInt(l), asInt(r)
			m := x % y
			if m != 0 && ((m < 0) != (y < 0)) {
				m += y
			}
			return m, nil
		}
		m := math.Mod(a, b)
		if m != 0 && ((m < 0) != (b < 0)) {
			m += b
		}
		return m, nil
	case "**":
		if a == 0 && b < 0 {
			return nil, errf("0 cannot be raised to a negative power")
		}
		res := math.Pow(a, b)
		if ints && b >= 0 && math.Abs(res) < 1<<62 {
			return int64(res), nil
		}
		return res, nil
	}
	return nil, errf("unsupported operator %s", op)
}

func repeatOperands(l, r Value) (string, int64, bool) {
	if s, ok := l.(string); ok {
		if n, ok := r.(int64); ok {
			return s, n, true
		}
	}
	if s, ok := r.(string); ok {
		if n, ok := l.(int64); ok {
			return s, n, true
		}
	}
	return "", 0, false
}

func repeatList(l, r Value) (*List, int64, bool) {
	if s, ok := l.(*List); ok {
		if n, ok := r.(int64); ok {
			return s, n, true
		}
	}
	if s, ok := r.(*List); ok {
		if n, ok := l.(int64); ok {
			return s, n, true
		}
	}
	return nil, 0, false
}

// contains is `needle in hay`.
func contains(hay, needle Value) (bool, error) {
	switch h := hay.(type) {
	case *List:
		for _, it := range h.Items {
			if equal(it, needle) {
				return true, nil
			}
		}
		return false, nil
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, errf("'in <string>' needs a string on the left, got %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case *Map:
		n, ok := needle.(string)
		if !ok {
			return false, nil
		}
		_, in := h.Get(n)
		return in, nil
	case *Namespace:
		n, ok := needle.(string)
		if !ok {
			return false, nil
		}
		_, in := h.Attrs.Get(n)
		return in, nil
	case Undefined:
		return false, nil
	}
	return false, errf("cannot test membership in %s", typeName(hay))
}

func usesName(nodes []node, name string) bool {
	found := false
	walkNodes(nodes, func(x expr) {
		if n, ok := x.(*nameExpr); ok && n.name == name {
			found = true
		}
	})
	return found
}

func exprUsesName(x expr, name string) bool {
	found := false
	walkExpr(x, func(e expr) {
		if n, ok := e.(*nameExpr); ok && n.name == name {
			found = true
		}
	})
	return found
}

// walkNodes calls f on every expression in nodes, nested bodies included
// (but not the bodies of nested macros, which have their own arguments).
func walkNodes(nodes []node, f func(expr)) {
	for _, n := range nodes {
		switch n := n.(type) {
		case *outputNode:
			walkExpr(n.x, f)
		case *ifNode:
			walkExpr(n.cond, f)
			walkNodes(n.then, f)
			walkNodes(n.els, f)
		case *forNode:
			walkExpr(n.iter, f)
			walkExpr(n.filter, f)
			walkNodes(n.body, f)
			walkNodes(n.els, f)
		case *setNode:
			walkExpr(n.value, f)
			walkExpr(n.obj, f)
			walkNodes(n.body, f)
		case *callBlockNode:
			walkExpr(n.call, f)
		case *filterBlockNode:
			walkExpr(n.filter, f)
			walkNodes(n.body, f)
		}
	}
}

func walkExpr(x expr, f func(expr)) {
	if x == nil {
		return
	}
	f(x)
	switch x := x.(type) {
	case *listLit:
		for _, it := range x.items {
			walkExpr(it, f)
		}
	case *dictLit:
		for i := range x.keys {
			walkExpr(x.keys[i], f)
			walkExpr(x.vals[i], f)
		}
	case *attrExpr:
		walkExpr(x.obj, f)
		walkExpr(x.key, f)
	case *sliceExpr:
		walkExpr(x.obj, f)
		walkExpr(x.start, f)
		walkExpr(x.stop, f)
		walkExpr(x.step, f)
	case *callExpr:
		walkExpr(x.fn, f)
		for _, a := range x.args {
			walkExpr(a, f)
		}
		for _, k := range x.kwargs {
			walkExpr(k.v, f)
		}
	case *filterExpr:
		walkExpr(x.x, f)
		for _, a := range x.args {
			walkExpr(a, f)
		}
		for _, k := range x.kwargs {
			walkExpr(k.v, f)
		}
	case *testExpr:
		walkExpr(x.x, f)
		for _, a := range x.args {
			walkExpr(a, f)
		}
	case *unaryExpr:
		walkExpr(x.x, f)
	case *spreadExpr:
		walkExpr(x.x, f)
	case *binaryExpr:
		walkExpr(x.l, f)
		walkExpr(x.r, f)
	case *condExpr:
		walkExpr(x.cond, f)
		walkExpr(x.a, f)
		walkExpr(x.b, f)
	}
}

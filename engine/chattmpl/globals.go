package chattmpl

import (
	"strconv"
	"strings"
	"time"
)

// globalFuncs are the functions every template sees: Jinja's range, dict,
// namespace, joiner, plus what Hugging Face adds (raise_exception,
// strftime_now).
func globalFuncs() map[string]Value {
	return map[string]Value{
		"range":           &Func{Name: "range", Call: fnRange},
		"dict":            &Func{Name: "dict", Call: fnDict},
		"namespace":       &Func{Name: "namespace", Call: fnNamespace},
		"raise_exception": &Func{Name: "raise_exception", Call: fnRaise},
		"strftime_now":    &Func{Name: "strftime_now", Call: fnStrftimeNow},
		"joiner":          &Func{Name: "joiner", Call: fnJoiner},
	}
}

func fnRange(st *state, _ *scope, args []Value, _ *Map) (Value, error) {
	var start, stop, step int64 = 0, 0, 1
	ints := make([]int64, len(args))
	for i, a := range args {
		n, err := intArg("range", a, "argument "+strconv.Itoa(i+1))
		if err != nil {
			return nil, err
		}
		ints[i] = n
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, errf("range expects 1 to 3 integer arguments, got %d", len(args))
	}
	if step == 0 {
		return nil, errf("range() step must not be zero")
	}
	var n int64
	switch {
	case step > 0 && stop > start:
		n = (stop - start + step - 1) / step
	case step < 0 && stop < start:
		n = (start - stop - step - 1) / -step
	}
	if n > int64(st.maxItems) || n < 0 {
		return nil, errf("range(%d, %d, %d) is longer than the limit of %d items", start, stop, step, st.maxItems)
	}
	l := &List{Items: make([]Value, n)}
	for i := int64(0); i < n; i++ {
		l.Items[i] = start + i*step
	}
	return l, nil
}

// mappingFrom builds a Map from an optional positional mapping or list of
// pairs plus keyword arguments.
func mappingFrom(fn string, args []Value, kw *Map) (*Map, error) {
	m := NewMap()
	if len(args) > 1 {
		return nil, errf("%s expects at most one positional argument, got %d", fn, len(args))
	}
	if len(args) == 1 {
		switch src := args[0].(type) {
		case *Map:
			m = src.clone()
		case *Namespace:
			m = src.Attrs.clone()
		case *List:
			for _, it := range src.Items {
				pair, ok := it.(*List)
				if !ok || len(pair.Items) != 2 {
					return nil, errf("%s expects a mapping or a list of [key, value] pairs", fn)
				}
				k, ok := pair.Items[0].(string)
				if !ok {
					return nil, errf("%s keys must be strings, got %s", fn, typeName(pair.Items[0]))
				}
				m.Set(k, pair.Items[1])
			}
		case nil, Undefined:
		default:
			return nil, errf("%s expects a mapping, got %s", fn, typeName(src))
		}
	}
	for i, k := range kw.Keys() {
		m.Set(k, kw.vals[i])
	}
	return m, nil
}

func fnDict(_ *state, _ *scope, args []Value, kw *Map) (Value, error) {
	return mappingFrom("dict", args, kw)
}

func fnNamespace(_ *state, _ *scope, args []Value, kw *Map) (Value, error) {
	m, err := mappingFrom("namespace", args, kw)
	if err != nil {
		return nil, err
	}
	return &Namespace{Attrs: m}, nil
}

func fnRaise(_ *state, _ *scope, args []Value, _ *Map) (Value, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = toStr(a)
	}
	return nil, &runtimeError{pos: -1, msg: strings.Join(parts, " "), raised: true}
}

func fnJoiner(_ *state, _ *scope, args []Value, kw *Map) (Value, error) {
	sep := toStr(arg(args, kw, 0, "sep", ", "))
	used := false
	return &Func{Name: "joiner", Call: func(*state, *scope, []Value, *Map) (Value, error) {
		if !used {
			used = true
			return "", nil
		}
		return sep, nil
	}}, nil
}

func fnStrftimeNow(st *state, _ *scope, args []Value, kw *Map) (Value, error) {
	f, err := stringArg("strftime_now", arg(args, kw, 0, "format", nil), "the format")
	if err != nil {
		return nil, err
	}
	return strftime(st.now(), f), nil
}

// strftime formats t with C/Python strftime directives, including glibc's
// "%-d" (no padding) that Llama 3.1's template uses.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		noPad := false
		if f[i] == '-' && i+1 < len(f) {
			noPad = true
			i++
		}
		num := func(n, width int) {
			s := strconv.Itoa(n)
			if !noPad {
				for len(s) < width {
					s = "0" + s
				}
			}
			b.WriteString(s)
		}
		switch f[i] {
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'e':
			s := strconv.Itoa(t.Day())
			if len(s) < 2 && !noPad {
				s = " " + s
			}
			b.WriteString(s)
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'j':
			num(t.YearDay(), 3)
		case 'Z':
			name, _ := t.Zone()
			b.WriteString(name)
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			if noPad {
				b.WriteByte('-')
			}
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

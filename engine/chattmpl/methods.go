package chattmpl

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Methods callable on values: str.strip(), dict.items(), list.append() and
// the rest that chat templates use. Each access returns a Func bound to the
// receiver.

type method func(args []Value, kw *Map) (Value, error)

func bound(name string, m method) *Func {
	return &Func{Name: name, Call: func(_ *state, _ *scope, args []Value, kw *Map) (Value, error) {
		return m(args, kw)
	}}
}

// arg returns positional argument i or keyword name, or def when absent.
func arg(args []Value, kw *Map, i int, name string, def Value) Value {
	if i >= 0 && i < len(args) {
		return args[i]
	}
	if v, ok := kw.Get(name); ok {
		return v
	}
	return def
}

func stringArg(fn string, v Value, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errf("%s: %s must be a string, got %s", fn, what, typeName(v))
	}
	return s, nil
}

func intArg(fn string, v Value, what string) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case bool:
		return asInt(n), nil
	}
	return 0, errf("%s: %s must be an integer, got %s", fn, what, typeName(v))
}

// stripChars is str.strip/lstrip/rstrip: JavaScript whitespace by default
// (what @huggingface/jinja trims), else any of the given characters.
func stripChars(s string, chars Value, left, right bool) (string, error) {
	var cut func(rune) bool
	switch c := chars.(type) {
	case nil, Undefined:
		cut = isJSSpace
	case string:
		cut = func(r rune) bool { return strings.ContainsRune(c, r) }
	default:
		return "", errf("strip: the characters must be a string, got %s", typeName(chars))
	}
	if left {
		s = strings.TrimLeftFunc(s, cut)
	}
	if right {
		s = strings.TrimRightFunc(s, cut)
	}
	return s, nil
}

// titleCase upper-cases every ASCII word character that starts a word
// (JavaScript's /\b\w/g), leaving the rest as is, like @huggingface/jinja.
func titleCase(s string) string {
	b := []byte(s)
	prevWord := false
	for i, c := range b {
		w := isWordByte(c)
		if w && !prevWord && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		prevWord = w
	}
	return string(b)
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

func splitString(s string, sep Value, maxsplit int64) (*List, error) {
	var parts []string
	switch sp := sep.(type) {
	case nil, Undefined:
		fields := strings.FieldsFunc(s, isJSSpace)
		if maxsplit >= 0 && int64(len(fields)) > maxsplit {
			// keep the remainder after maxsplit words, from its first word on
			rest := strings.TrimLeftFunc(s, isJSSpace)
			for i := int64(0); i < maxsplit; i++ {
				_, after, _ := strings.Cut(rest, fields[i])
				rest = strings.TrimLeftFunc(after, isJSSpace)
			}
			parts = append(fields[:maxsplit:maxsplit], rest)
		} else {
			parts = fields
		}
	case string:
		if sp == "" {
			return nil, errf("split: empty separator")
		}
		if maxsplit >= 0 {
			parts = strings.SplitN(s, sp, int(min(maxsplit, int64(len(s))))+1)
		} else {
			parts = strings.Split(s, sp)
		}
	default:
		return nil, errf("split: the separator must be a string or none, got %s", typeName(sep))
	}
	l := &List{Items: make([]Value, len(parts))}
	for i, p := range parts {
		l.Items[i] = p
	}
	return l, nil
}

func affix(name, s string, arg Value, has func(string, string) bool) (Value, error) {
	switch a := arg.(type) {
	case string:
		return has(s, a), nil
	case *List:
		for _, it := range a.Items {
			p, ok := it.(string)
			if !ok {
				return nil, errf("%s: tuple items must be strings, got %s", name, typeName(it))
			}
			if has(s, p) {
				return true, nil
			}
		}
		return false, nil
	}
	return nil, errf("%s: argument must be a string or a tuple of strings, got %s", name, typeName(arg))
}

func allRunes(s string, f func(rune) bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

func stringMethod(s string, name string) *Func {
	var m method
	switch name {
	case "upper":
		m = func([]Value, *Map) (Value, error) { return strings.ToUpper(s), nil }
	case "lower":
		m = func([]Value, *Map) (Value, error) { return strings.ToLower(s), nil }
	case "strip", "lstrip", "rstrip":
		m = func(args []Value, kw *Map) (Value, error) {
			return stripChars(s, arg(args, kw, 0, "chars", nil), name != "rstrip", name != "lstrip")
		}
	case "title":
		m = func([]Value, *Map) (Value, error) { return titleCase(s), nil }
	case "capitalize":
		m = func([]Value, *Map) (Value, error) { return capitalize(s), nil }
	case "split":
		m = func(args []Value, kw *Map) (Value, error) {
			ms, err := intArg("split", arg(args, kw, 1, "maxsplit", int64(-1)), "maxsplit")
			if err != nil {
				return nil, err
			}
			return splitString(s, arg(args, kw, 0, "sep", nil), ms)
		}
	case "splitlines":
		m = func([]Value, *Map) (Value, error) {
			lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n")
			if len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			l := &List{Items: make([]Value, len(lines))}
			for i, x := range lines {
				l.Items[i] = x
			}
			return l, nil
		}
	case "startswith", "endswith":
		has := strings.HasPrefix
		if name == "endswith" {
			has = strings.HasSuffix
		}
		m = func(args []Value, kw *Map) (Value, error) {
			if len(args) == 0 {
				return nil, errf("%s() needs an argument", name)
			}
			return affix(name, s, args[0], has)
		}
	case "replace":
		m = func(args []Value, kw *Map) (Value, error) {
			return replaceString(s, args, kw)
		}
	case "find", "rfind", "count", "index":
		m = func(args []Value, kw *Map) (Value, error) {
			sub, err := stringArg(name, arg(args, kw, 0, "sub", nil), "the substring")
			if err != nil {
				return nil, err
			}
			switch name {
			case "count":
				if sub == "" {
					return int64(utf8.RuneCountInString(s) + 1), nil
				}
				return int64(strings.Count(s, sub)), nil
			case "rfind":
				i := strings.LastIndex(s, sub)
				if i < 0 {
					return int64(-1), nil
				}
				return int64(utf8.RuneCountInString(s[:i])), nil
			}
			i := strings.Index(s, sub)
			if i < 0 {
				if name == "index" {
					return nil, errf("index: substring not found")
				}
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s[:i])), nil
		}
	case "join":
		m = func(args []Value, kw *Map) (Value, error) {
			items, err := iterate(arg(args, kw, 0, "iterable", nil), "")
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = toStr(it)
			}
			return strings.Join(parts, s), nil
		}
	case "isdigit":
		m = func([]Value, *Map) (Value, error) { return allRunes(s, unicode.IsDigit), nil }
	case "isalpha":
		m = func([]Value, *Map) (Value, error) { return allRunes(s, unicode.IsLetter), nil }
	case "isalnum":
		m = func([]Value, *Map) (Value, error) {
			return allRunes(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }), nil
		}
	case "isspace":
		m = func([]Value, *Map) (Value, error) { return allRunes(s, unicode.IsSpace), nil }
	case "islower":
		m = func([]Value, *Map) (Value, error) { return s == strings.ToLower(s) && s != strings.ToUpper(s), nil }
	case "isupper":
		m = func([]Value, *Map) (Value, error) { return s == strings.ToUpper(s) && s != strings.ToLower(s), nil }
	case "removeprefix":
		m = func(args []Value, kw *Map) (Value, error) {
			p, err := stringArg(name, arg(args, kw, 0, "prefix", nil), "the prefix")
			return strings.TrimPrefix(s, p), err
		}
	case "removesuffix":
		m = func(args []Value, kw *Map) (Value, error) {
			p, err := stringArg(name, arg(args, kw, 0, "suffix", nil), "the suffix")
			return strings.TrimSuffix(s, p), err
		}
	default:
		return nil
	}
	return bound("str."+name, m)
}

func replaceString(s string, args []Value, kw *Map) (Value, error) {
	if len(args) < 2 {
		return nil, errf("replace() needs the old and the new string")
	}
	old, err := stringArg("replace", args[0], "the old value")
	if err != nil {
		return nil, err
	}
	nw, err := stringArg("replace", args[1], "the new value")
	if err != nil {
		return nil, err
	}
	n := int64(-1)
	if c := arg(args, kw, 2, "count", nil); c != nil {
		if n, err = intArg("replace", c, "count"); err != nil {
			return nil, err
		}
	}
	if n < 0 {
		n = -1
	}
	return strings.Replace(s, old, nw, int(min(n, int64(len(s)+1)))), nil
}

func mapItems(m *Map) *List {
	l := &List{Items: make([]Value, m.Len())}
	for i, k := range m.keys {
		l.Items[i] = &List{Items: []Value{k, m.vals[i]}, Tuple: true}
	}
	return l
}

func mapMethod(m *Map, name string) *Func {
	var fn method
	switch name {
	case "items":
		fn = func([]Value, *Map) (Value, error) { return mapItems(m), nil }
	case "keys":
		fn = func([]Value, *Map) (Value, error) {
			l := &List{Items: make([]Value, m.Len())}
			for i, k := range m.keys {
				l.Items[i] = k
			}
			return l, nil
		}
	case "values":
		fn = func([]Value, *Map) (Value, error) {
			return newList(append([]Value(nil), m.vals...)), nil
		}
	case "get":
		fn = func(args []Value, kw *Map) (Value, error) {
			if len(args) == 0 {
				return nil, errf("get() needs a key")
			}
			if k, ok := args[0].(string); ok {
				if v, ok := m.Get(k); ok {
					return v, nil
				}
			}
			return arg(args, kw, 1, "default", nil), nil
		}
	default:
		return nil
	}
	return bound("dict."+name, fn)
}

func listMethod(l *List, name string) *Func {
	var fn method
	switch name {
	case "append":
		fn = func(args []Value, kw *Map) (Value, error) {
			if len(args) != 1 {
				return nil, errf("append() takes exactly one argument (%d given)", len(args))
			}
			if len(l.Items) >= maxListLen {
				return nil, errf("append: list longer than %d items", maxListLen)
			}
			l.Items = append(l.Items, args[0])
			return nil, nil
		}
	case "extend":
		fn = func(args []Value, kw *Map) (Value, error) {
			if len(args) != 1 {
				return nil, errf("extend() takes exactly one argument (%d given)", len(args))
			}
			items, err := iterate(args[0], "")
			if err != nil {
				return nil, err
			}
			if len(l.Items)+len(items) > maxListLen {
				return nil, errf("extend: list longer than %d items", maxListLen)
			}
			l.Items = append(l.Items, items...)
			return nil, nil
		}
	case "pop":
		fn = func(args []Value, kw *Map) (Value, error) {
			if len(l.Items) == 0 {
				return nil, errf("pop from empty list")
			}
			i := int64(len(l.Items) - 1)
			if len(args) > 0 {
				var err error
				if i, err = intArg("pop", args[0], "index"); err != nil {
					return nil, err
				}
				if i < 0 {
					i += int64(len(l.Items))
				}
				if i < 0 || i >= int64(len(l.Items)) {
					return nil, errf("pop index out of range")
				}
			}
			v := l.Items[i]
			l.Items = append(l.Items[:i], l.Items[i+1:]...)
			return v, nil
		}
	case "index", "count":
		fn = func(args []Value, kw *Map) (Value, error) {
			if len(args) != 1 {
				return nil, errf("%s() takes exactly one argument", name)
			}
			n := int64(0)
			for i, it := range l.Items {
				if equal(it, args[0]) {
					if name == "index" {
						return int64(i), nil
					}
					n++
				}
			}
			if name == "index" {
				return nil, errf("index: value is not in the list")
			}
			return n, nil
		}
	default:
		return nil
	}
	return bound("list."+name, fn)
}

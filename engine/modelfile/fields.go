package modelfile

import (
	"encoding/json"
	"fmt"
	"math"
)

// fields reads typed values out of a decoded JSON object (numbers kept as
// json.Number) and turns type mismatches into errors naming file and field.
type fields struct {
	file   string
	prefix string // "rope_scaling." for nested objects
	m      map[string]any
}

func (f fields) errf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s%s %s", f.file, f.prefix, key, fmt.Sprintf(format, args...))
}

// present reports whether key exists and is not JSON null.
func (f fields) present(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

// int returns the integer at key, def if absent or null.
func (f fields) int(key string, def int) (int, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def, nil
	}
	return f.toInt(key, v)
}

func (f fields) toInt(key string, v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, f.errf(key, "must be an integer, got %s", describe(v))
	}
	if i, err := n.Int64(); err == nil {
		if i > math.MaxInt32 || i < math.MinInt32 {
			return 0, f.errf(key, "value %d is out of range", i)
		}
		return int(i), nil
	}
	// 4096.0 is written by some tools; accept integral floats.
	fl, err := n.Float64()
	if err != nil || fl != math.Trunc(fl) || math.Abs(fl) > math.MaxInt32 {
		return 0, f.errf(key, "must be an integer, got %s", n)
	}
	return int(fl), nil
}

// float returns the number at key, def if absent or null.
func (f fields) float(key string, def float64) (float64, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, f.errf(key, "must be a number, got %s", describe(v))
	}
	fl, err := n.Float64()
	if err != nil || math.IsNaN(fl) || math.IsInf(fl, 0) {
		return 0, f.errf(key, "must be a finite number, got %s", n)
	}
	return fl, nil
}

func (f fields) bool(key string, def bool) (bool, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, f.errf(key, "must be true or false, got %s", describe(v))
	}
	return b, nil
}

func (f fields) string(key string, def string) (string, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", f.errf(key, "must be a string, got %s", describe(v))
	}
	return s, nil
}

func (f fields) strings(key string) ([]string, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, f.errf(key, "must be a list of strings, got %s", describe(v))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, f.errf(fmt.Sprintf("%s[%d]", key, i), "must be a string, got %s", describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// ints reads an integer or a list of integers (eos_token_id is either).
func (f fields) ints(key string) ([]int, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	if list, ok := v.([]any); ok {
		out := make([]int, 0, len(list))
		for i, e := range list {
			n, err := f.toInt(fmt.Sprintf("%s[%d]", key, i), e)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
	n, err := f.toInt(key, v)
	if err != nil {
		return nil, f.errf(key, "must be an integer or a list of integers, got %s", describe(v))
	}
	return []int{n}, nil
}

// object returns the nested object at key (nil if absent or null).
func (f fields) object(key string) (map[string]any, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, f.errf(key, "must be an object, got %s", describe(v))
	}
	return o, nil
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case json.Number:
		return x.String()
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// has reports whether key exists at all (an explicit null counts).
func (f fields) has(key string) bool {
	_, ok := f.m[key]
	return ok
}

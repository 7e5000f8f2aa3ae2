package chattmpl

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// plain converts decoded template values to what encoding/json (UseNumber)
// produces, for comparison.
func plain(v Value) any {
	switch x := v.(type) {
	case *Map:
		m := map[string]any{}
		for i, k := range x.keys {
			m[k] = plain(x.vals[i])
		}
		return m
	case *List:
		out := make([]any, len(x.Items))
		for i, it := range x.Items {
			out[i] = plain(it)
		}
		return out
	case int64:
		return float64(x)
	}
	return v
}

func plainStd(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = plainStd(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = plainStd(e)
		}
		return x
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return v
}

func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !sameJSON(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsInf(x, 0) && math.IsInf(y, 0)) || math.Abs(x-y) <= 1e-9*math.Abs(y))
	}
	return a == b
}

func checkAgainstStd(t *testing.T, data []byte) {
	t.Helper()
	got, err := DecodeJSON(data)
	valid := json.Valid(data)
	if (err == nil) != valid {
		t.Fatalf("%q: DecodeJSON err %v, json.Valid %v", data, err, valid)
	}
	if !valid {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if err == nil && !sameJSON(plain(got), plainStd(want)) {
		t.Fatalf("%q: DecodeJSON %#v, encoding/json %#v", data, plain(got), plainStd(want))
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, s := range []string{
		`{"b": 1, "a": [1.5, -0, 2e3, 1.0, "x\u00e9\ud83d\ude00\n\"\\\/"], "c": {}, "d": [], "e": null, "f": true, "g": false}`,
		`"lone \ud800 surrogate"`, "\"bad \xff utf8\"", ` 12 `, `-1.5e-3`, `[1,]`, `{"a":1,}`, `01`, `1.`, `"\x"`, `tru`, `[`, `{"a"}`, `"a" "b"`, `9999999999999999999999`,
		`{"a": 1, "a": 2}`,
	} {
		checkAgainstStd(t, []byte(s))
	}
	v, err := DecodeJSON([]byte(`{"z": 1, "a": 2, "m": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(v.(*Map).Keys(), ","); got != "z,a,m" {
		t.Errorf("key order %s", got)
	}
	if v, _ := DecodeJSON([]byte(`[1.0, 1.5, 3]`)); toStr(v) != "[1, 1.5, 3]" {
		t.Errorf("numbers: %s", toStr(v))
	}
}

// FuzzDecodeJSON checks DecodeJSON against encoding/json: same acceptance,
// same values.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"a": [1, 2.5, "x", null, true, {"b": "\u00e9"}]}`))
	f.Add([]byte(`"\ud83d\ude00 \ud800"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstStd(t, data)
	})
}

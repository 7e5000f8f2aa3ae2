package chattmpl

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FuzzTemplate parses and renders arbitrary templates with arbitrary JSON
// variables: no panic, and no hang (the step, output and list limits stop
// runaway loops and recursion).
//
//	go test -run '^$' -fuzz FuzzTemplate -fuzztime 60s ./engine/chattmpl/
func FuzzTemplate(f *testing.F) {
	for _, c := range constructCases {
		f.Add(c.tmpl, c.vars)
	}
	f.Add("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}")
	f.Add("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "{}")
	f.Add("{% set s = 'ab' %}{% for i in range(64) %}{% set s = s ~ s %}{% endfor %}{{ s }}", "{}")
	f.Add("{{ ((((((((((((1)))))))))))) }}", "{}")
	if dirs, err := filepath.Glob(filepath.Join("..", "..", "..", "shared", "testdata", "tokenizers", "*")); err == nil {
		for _, d := range dirs {
			if t, err := Load(d); err == nil {
				f.Add(t.src, `{"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true, "tools": [{"a": 1}]}`)
			}
		}
	}
	if src, err := os.ReadFile(filepath.Join("testdata", "hfjinja.mjs")); err == nil {
		f.Add(string(src), "{}") // not a template: exercises lexer errors
	}
	f.Fuzz(func(t *testing.T, src, vars string) {
		// A hang is a failure: crash the worker so the fuzzer keeps the input.
		watchdog := time.AfterFunc(5*time.Second, func() { panic("template took more than 5s: " + strconv.Quote(src)) })
		defer watchdog.Stop()
		tmpl, err := ParseNamed("fuzz", src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse error of type %T: %v", err, err)
			}
			return
		}
		tmpl.maxSteps = 200_000
		tmpl.maxOutput = 1 << 20
		tmpl.maxItems = 10_000
		m := NewMap()
		if v, err := DecodeJSON([]byte(vars)); err == nil {
			if mm, ok := v.(*Map); ok {
				m = mm
			}
		}
		start := time.Now()
		_, err = tmpl.RenderVars(m)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("render error of type %T: %v", err, err)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("render took %v", d)
		}
	})
}

package chattmpl

import (
	"strings"
	"testing"
)

func renderCase(tmpl, vars string) (string, error) {
	t, err := ParseNamed("case", tmpl)
	if err != nil {
		return "", err
	}
	m := NewMap()
	if vars != "" {
		v, err := DecodeJSON([]byte(vars))
		if err != nil {
			return "", err
		}
		m = v.(*Map)
	}
	return t.RenderVars(m)
}

func TestConstructs(t *testing.T) {
	for _, c := range constructCases {
		got, err := renderCase(c.tmpl, c.vars)
		if c.wantErr != "" {
			if err == nil {
				t.Errorf("%s: want error containing %q, got output %q", c.name, c.wantErr, got)
			} else if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: want error containing %q, got %v", c.name, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

package tokenizer

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// pattern finds the non-overlapping matches of a Split or Replace pattern, as
// [start, end) byte offsets, left to right.
type pattern interface {
	findAll(s string) [][2]int
}

type literalPattern string

func (p literalPattern) findAll(s string) [][2]int {
	var out [][2]int
	if p == "" {
		return nil
	}
	for off := 0; ; {
		i := strings.Index(s[off:], string(p))
		if i < 0 {
			return out
		}
		out = append(out, [2]int{off + i, off + i + len(p)})
		off += i + len(p)
	}
}

// regexPattern is the general fallback: regexp2 has the look-around that
// tokenizer patterns use and Go's regexp lacks.
type regexPattern struct{ re *regexp2.Regexp }

func (p regexPattern) findAll(s string) [][2]int {
	// Encode hands over valid UTF-8, so rune i starts at byteAt[i].
	runes := make([]rune, 0, len(s))
	byteAt := make([]int, 0, len(s)+1)
	for i, r := range s {
		runes = append(runes, r)
		byteAt = append(byteAt, i)
	}
	byteAt = append(byteAt, len(s))
	var out [][2]int
	m, err := p.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		out = append(out, [2]int{byteAt[m.Index], byteAt[m.Index+m.Length]})
		m, err = p.re.FindNextMatch(m)
	}
	return out
}

// pattern reads {"String": "..."} or {"Regex": "..."}. A plain string comes
// back both as literal and as a pattern; known GPT-2 family regexes get the
// hand-written scanner.
func (l *loader) pattern(field string, m json.RawMessage) (string, pattern, error) {
	if isNull(m) {
		return "", nil, l.errf(field, "missing")
	}
	var v struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := l.decode(field, m, &v); err != nil {
		return "", nil, err
	}
	switch {
	case v.String != nil:
		return *v.String, literalPattern(*v.String), nil
	case v.Regex != nil:
		if sc := knownScanner(*v.Regex); sc != nil {
			return "", sc, nil
		}
		re, err := regexp2.Compile(*v.Regex, regexp2.None)
		if err != nil {
			return "", nil, l.errf(field+".Regex", "invalid regular expression: %v", err)
		}
		re.MatchTimeout = 5 * time.Second // a pathological pattern ends, it does not hang
		return "", regexPattern{re}, nil
	}
	return "", nil, l.errf(field, "expected {\"String\": ...} or {\"Regex\": ...}")
}

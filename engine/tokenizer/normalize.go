package tokenizer

import (
	"encoding/json"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type seqNormalizer []normalizer

func (q seqNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) normalize(s string) string { return u.form.String(s) }

type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string { return strings.ToLower(s) }

// prependNormalizer adds a prefix to non-empty text (Llama 2's "▁").
type prependNormalizer struct{ prefix string }

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

type replaceNormalizer struct {
	pat     pattern
	literal string // when the pattern is a plain string
	content string
}

func (r replaceNormalizer) normalize(s string) string {
	if r.pat == nil {
		return strings.ReplaceAll(s, r.literal, r.content)
	}
	var sb strings.Builder
	prev := 0
	for _, m := range r.pat.findAll(s) {
		sb.WriteString(s[prev:m[0]])
		sb.WriteString(r.content)
		prev = m[1]
	}
	sb.WriteString(s[prev:])
	return sb.String()
}

type stripNormalizer struct{ left, right bool }

func (st stripNormalizer) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// stripAccentsNormalizer removes combining marks (meant to follow NFD).
type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsMark(r) {
			return -1
		}
		return r
	}, s)
}

func (l *loader) normalizer(field string, m json.RawMessage) (normalizer, error) {
	if isNull(m) {
		return nil, nil
	}
	typ, err := l.componentType(field, m)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		steps, err := sequence(l, field, "normalizers", m, l.normalizer)
		return seqNormalizer(steps), err
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "Prepend":
		var v struct {
			Prepend *string `json:"prepend"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		if v.Prepend == nil {
			return nil, l.errf(field+".prepend", "missing")
		}
		return prependNormalizer{*v.Prepend}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content *string         `json:"content"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		if v.Content == nil {
			return nil, l.errf(field+".content", "missing")
		}
		lit, pat, err := l.pattern(field+".pattern", v.Pattern)
		if err != nil {
			return nil, err
		}
		if _, ok := pat.(literalPattern); ok {
			if lit == "" {
				return nil, l.errf(field+".pattern", "empty pattern")
			}
			pat = nil // plain strings.ReplaceAll
		}
		return replaceNormalizer{pat: pat, literal: lit, content: *v.Content}, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		return stripNormalizer{v.Left, v.Right}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	}
	return nil, l.errf(field+".type", "unsupported normalizer %q (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, StripAccents)", typ)
}

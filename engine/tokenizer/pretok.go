package tokenizer

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// word is a piece of normalized text on its way to the model.
type word struct {
	text    string
	atStart bool // begins the original text (for Metaspace prepend_scheme "first")
	raw     bool // bytes still to be mapped to byte-level characters
}

type preTokenizer interface {
	split(ws []word) []word
}

type seqPreTokenizer []preTokenizer

func (q seqPreTokenizer) split(ws []word) []word {
	for _, p := range q {
		ws = p.split(ws)
	}
	return ws
}

// splitBehavior is what happens to the matched delimiters.
type splitBehavior int

const (
	behRemoved splitBehavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

type splitPreTokenizer struct {
	pat      pattern
	behavior splitBehavior
	invert   bool
}

func (p *splitPreTokenizer) split(ws []word) []word {
	n := 0
	for _, w := range ws {
		n += len(w.text)
	}
	out := make([]word, 0, n/3+len(ws))
	for _, w := range ws {
		out = splitWord(out, w, p.pat.findAll(w.text), p.behavior, p.invert)
	}
	return out
}

// piece is a stretch of a word and whether it was a pattern match.
type piece struct {
	start, end int
	match      bool
}

// splitWord cuts w at the matches according to behavior, as Hugging Face's
// NormalizedString::split does; empty pieces are dropped.
func splitWord(out []word, w word, matches [][2]int, behavior splitBehavior, invert bool) []word {
	s := w.text
	if behavior == behIsolated {
		// Every match and every gap is its own word: no merging to do.
		prev := 0
		for _, m := range matches {
			if prev < m[0] {
				out = append(out, word{text: s[prev:m[0]], atStart: w.atStart && prev == 0, raw: w.raw})
			}
			if m[0] < m[1] {
				out = append(out, word{text: s[m[0]:m[1]], atStart: w.atStart && m[0] == 0, raw: w.raw})
			}
			prev = m[1]
		}
		if prev < len(s) {
			out = append(out, word{text: s[prev:], atStart: w.atStart && prev == 0, raw: w.raw})
		}
		return out
	}
	pieces := make([]piece, 0, 2*len(matches)+1)
	prev := 0
	for _, m := range matches {
		if prev != m[0] {
			pieces = append(pieces, piece{prev, m[0], invert})
		}
		pieces = append(pieces, piece{m[0], m[1], !invert})
		prev = m[1]
	}
	if prev != len(s) {
		pieces = append(pieces, piece{prev, len(s), invert})
	}
	var merged []piece
	switch behavior {
	case behIsolated:
		merged = pieces
	case behRemoved:
		for _, p := range pieces {
			if !p.match {
				merged = append(merged, p)
			}
		}
	case behContiguous:
		prevMatch := false
		for i, p := range pieces {
			if i > 0 && p.match == prevMatch {
				merged[len(merged)-1].end = p.end
			} else {
				merged = append(merged, p)
			}
			prevMatch = p.match
		}
	case behMergedWithPrevious:
		prevMatch := false
		for _, p := range pieces {
			if p.match && !prevMatch && len(merged) > 0 {
				merged[len(merged)-1].end = p.end
			} else {
				merged = append(merged, p)
			}
			prevMatch = p.match
		}
	case behMergedWithNext:
		prevMatch := false
		var rev []piece
		for i := len(pieces) - 1; i >= 0; i-- {
			p := pieces[i]
			if p.match && !prevMatch && len(rev) > 0 {
				rev[len(rev)-1].start = p.start
			} else {
				rev = append(rev, p)
			}
			prevMatch = p.match
		}
		for i := len(rev) - 1; i >= 0; i-- {
			merged = append(merged, rev[i])
		}
	}
	for _, p := range merged {
		if p.end > p.start {
			out = append(out, word{text: s[p.start:p.end], atStart: w.atStart && p.start == 0, raw: w.raw})
		}
	}
	return out
}

// byteLevelPreTokenizer optionally adds a leading space, optionally splits with
// the GPT-2 regex, and maps bytes to byte-level characters. When it is the last
// pre-tokenizer the mapping is left to the model (lazy), which works on bytes.
type byteLevelPreTokenizer struct {
	addPrefixSpace bool
	useRegex       bool
	lazy           bool
	re             pattern
}

func (p *byteLevelPreTokenizer) split(ws []word) []word {
	if !p.addPrefixSpace && !p.useRegex {
		// Only the byte mapping: done in place.
		out := ws[:0]
		for _, w := range ws {
			if w.text == "" {
				continue
			}
			if p.lazy {
				w.raw = true
			} else {
				w.text = byteLevelEncode(w.text)
			}
			out = append(out, w)
		}
		return out
	}
	out := make([]word, 0, len(ws))
	for _, w := range ws {
		if p.addPrefixSpace && !strings.HasPrefix(w.text, " ") {
			w.text = " " + w.text
		}
		start := len(out)
		if p.useRegex {
			out = splitWord(out, w, p.re.findAll(w.text), behIsolated, false)
		} else if w.text != "" {
			out = append(out, w)
		}
		for i := start; i < len(out); i++ {
			if p.lazy {
				out[i].raw = true
			} else {
				out[i].text = byteLevelEncode(out[i].text)
			}
		}
	}
	return out
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

type metaspacePreTokenizer struct {
	replacement string
	scheme      prependScheme
	split_      bool
}

func (p *metaspacePreTokenizer) split(ws []word) []word {
	out := make([]word, 0, len(ws)*4)
	for _, w := range ws {
		s := strings.ReplaceAll(w.text, " ", p.replacement)
		if !strings.HasPrefix(s, p.replacement) && (p.scheme == prependAlways || (p.scheme == prependFirst && w.atStart)) {
			s = p.replacement + s
		}
		nw := word{text: s, atStart: w.atStart}
		if p.split_ {
			out = splitWord(out, nw, literalPattern(p.replacement).findAll(s), behMergedWithNext, false)
		} else if s != "" {
			out = append(out, nw)
		}
	}
	return out
}

// whitespacePreTokenizer is `\w+|[^\w\s]+`, whitespace removed.
type whitespacePreTokenizer struct{}

func (whitespacePreTokenizer) split(ws []word) []word {
	var out []word
	for _, w := range ws {
		s := w.text
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				i += n
				continue
			}
			wordy := isWordChar(r)
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r2) || isWordChar(r2) != wordy {
					break
				}
				j += n2
			}
			out = append(out, word{text: s[i:j], atStart: w.atStart && i == 0})
			i = j
		}
	}
	return out
}

type whitespaceSplitPreTokenizer struct{}

func (whitespaceSplitPreTokenizer) split(ws []word) []word {
	var out []word
	for _, w := range ws {
		s := w.text
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				i += n
				continue
			}
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r2) {
					break
				}
				j += n2
			}
			out = append(out, word{text: s[i:j], atStart: w.atStart && i == 0})
			i = j
		}
	}
	return out
}

// digitsPreTokenizer isolates digits (each one, or runs of them).
type digitsPreTokenizer struct{ individual bool }

func (p digitsPreTokenizer) split(ws []word) []word {
	var out []word
	for _, w := range ws {
		var matches [][2]int
		s := w.text
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsDigit(r) {
				i += n
				continue
			}
			j := i + n
			for !p.individual && j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsDigit(r2) {
					break
				}
				j += n2
			}
			matches = append(matches, [2]int{i, j})
			i = j
		}
		out = splitWord(out, w, matches, behIsolated, false)
	}
	return out
}

func (l *loader) behavior(field, s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return behRemoved, nil
	case "Isolated":
		return behIsolated, nil
	case "MergedWithPrevious":
		return behMergedWithPrevious, nil
	case "MergedWithNext":
		return behMergedWithNext, nil
	case "Contiguous":
		return behContiguous, nil
	}
	return 0, l.errf(field, "unknown split behavior %q (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", s)
}

func (l *loader) preTokenizer(field string, m json.RawMessage) (preTokenizer, error) {
	p, err := l.preTokenizerAt(field, m)
	if err != nil || p == nil {
		return p, err
	}
	// The last step, if byte-level, may leave the byte mapping to the model.
	last := p
	if q, ok := p.(seqPreTokenizer); ok && len(q) > 0 {
		last = q[len(q)-1]
	}
	if bl, ok := last.(*byteLevelPreTokenizer); ok {
		bl.lazy = true
	}
	return p, nil
}

func (l *loader) preTokenizerAt(field string, m json.RawMessage) (preTokenizer, error) {
	if isNull(m) {
		return nil, nil
	}
	typ, err := l.componentType(field, m)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		steps, err := sequence(l, field, "pretokenizers", m, l.preTokenizerAt)
		return seqPreTokenizer(steps), err
	case "Split":
		var v struct {
			Pattern  json.RawMessage `json:"pattern"`
			Behavior string          `json:"behavior"`
			Invert   bool            `json:"invert"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		_, pat, err := l.pattern(field+".pattern", v.Pattern)
		if err != nil {
			return nil, err
		}
		beh, err := l.behavior(field+".behavior", v.Behavior)
		if err != nil {
			return nil, err
		}
		return &splitPreTokenizer{pat: pat, behavior: beh, invert: v.Invert}, nil
	case "ByteLevel":
		v := struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}{}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		useRegex := v.UseRegex == nil || *v.UseRegex
		return &byteLevelPreTokenizer{addPrefixSpace: v.AddPrefixSpace, useRegex: useRegex, re: knownScanner(gpt2Pattern)}, nil
	case "Metaspace":
		rep, scheme, split, err := l.metaspace(field, m)
		if err != nil {
			return nil, err
		}
		return &metaspacePreTokenizer{replacement: rep, scheme: scheme, split_: split}, nil
	case "Whitespace":
		return whitespacePreTokenizer{}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPreTokenizer{}, nil
	case "Digits":
		var v struct {
			Individual bool `json:"individual_digits"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		return digitsPreTokenizer{v.Individual}, nil
	}
	return nil, l.errf(field+".type", "unsupported pre-tokenizer %q (supported: Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits)", typ)
}

// metaspace reads the settings shared by the Metaspace pre-tokenizer and decoder.
func (l *loader) metaspace(field string, m json.RawMessage) (string, prependScheme, bool, error) {
	var v struct {
		Replacement    *string `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := l.decode(field, m, &v); err != nil {
		return "", 0, false, err
	}
	rep := spaceMark
	if v.Replacement != nil {
		rep = *v.Replacement
		if utf8.RuneCountInString(rep) != 1 {
			return "", 0, false, l.errf(field+".replacement", "must be one character, found %q", rep)
		}
	}
	scheme := prependAlways
	if v.PrependScheme != nil {
		switch *v.PrependScheme {
		case "always":
		case "first":
			scheme = prependFirst
		case "never":
			scheme = prependNever
		default:
			return "", 0, false, l.errf(field+".prepend_scheme", "unknown value %q (always, first, never)", *v.PrependScheme)
		}
	}
	if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
		scheme = prependNever
	}
	split := v.Split == nil || *v.Split
	return rep, scheme, split, nil
}

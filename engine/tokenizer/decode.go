package tokenizer

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// chainOpts tells the decoder chain where the tokens sit in the sequence, so the
// streaming decoder can decode a window of a longer sequence exactly.
type chainOpts struct {
	atStart bool // the first token begins the sequence (Metaspace, Strip rules)
	final   bool // no more tokens follow (Strip's trailing cut)

	fused        bool // set by the chain: tokens were joined into one text
	stripPending bool // set by the chain: a leading Strip could still take more
}

// decoderStep is one decoder of tokenizer.json, applied to the whole token list
// like Hugging Face's decode_chain.
type decoderStep interface {
	decodeChain(toks []string, o *chainOpts) ([]string, error)
}

type seqDecoder []decoderStep

func (q seqDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	var err error
	for _, d := range q {
		if toks, err = d.decodeChain(toks, o); err != nil {
			return nil, err
		}
	}
	return toks, nil
}

// byteLevelDecoder maps byte-level characters back to bytes and reads the
// whole as UTF-8, invalid sequences becoming U+FFFD.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	buf := make([]byte, 0, 64)
	for _, t := range toks {
		buf = appendByteLevel(buf, t)
	}
	o.fused = true
	return []string{string(appendLossy(nil, buf))}, nil
}

// appendByteLevel appends the bytes a token stands for; a token with characters
// outside the byte map (an added token) stands for its own UTF-8.
func appendByteLevel(buf []byte, t string) []byte {
	start := len(buf)
	for _, r := range t {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return append(buf[:start], t...)
		}
		buf = append(buf, byte(runeToByte[r]))
	}
	return buf
}

type metaspaceDecoder struct {
	replacement rune
	scheme      prependScheme
}

func (d metaspaceDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		dropLead := i == 0 && o.atStart && d.scheme != prependNever
		out[i] = strings.Map(func(r rune) rune {
			if r == d.replacement {
				if dropLead {
					return -1
				}
				return ' '
			}
			return r
		}, t)
	}
	return out, nil
}

type replaceDecoder struct{ n replaceNormalizer }

func (d replaceDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = d.n.normalize(t)
	}
	return out, nil
}

// byteFallbackDecoder turns runs of <0xNN> tokens into text: the run's bytes if
// they are valid UTF-8, else one U+FFFD per byte (as Hugging Face does).
type byteFallbackDecoder struct{}

func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func (byteFallbackDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	out := make([]string, 0, len(toks))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range toks {
		if b, ok := byteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out, nil
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	o.fused = true
	return []string{strings.Join(toks, "")}, nil
}

// stripDecoder removes up to start leading and stop trailing content characters
// from each token (from the whole text once fused).
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(toks []string, o *chainOpts) ([]string, error) {
	out := make([]string, len(toks))
	for i, t := range toks {
		chars := []rune(t)
		lo, hi := 0, len(chars)
		if !o.fused || o.atStart {
			for lo < d.start && lo < len(chars) && chars[lo] == d.content {
				lo++
			}
			if o.fused && lo < d.start && lo == len(chars) {
				o.stripPending = true
			}
		}
		if !o.fused || o.final {
			for k := 0; k < d.stop && hi > lo && chars[hi-1] == d.content; k++ {
				hi--
			}
		}
		out[i] = string(chars[lo:hi])
	}
	return out, nil
}

func (l *loader) decoder(field string, m json.RawMessage) (decoderStep, error) {
	if isNull(m) {
		return nil, nil
	}
	typ, err := l.componentType(field, m)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		steps, err := sequence(l, field, "decoders", m, l.decoder)
		return seqDecoder(steps), err
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Metaspace":
		rep, scheme, _, err := l.metaspace(field, m)
		if err != nil {
			return nil, err
		}
		r, _ := utf8.DecodeRuneInString(rep)
		return metaspaceDecoder{replacement: r, scheme: scheme}, nil
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
			pat = nil
		}
		return replaceDecoder{replaceNormalizer{pat: pat, literal: lit, content: *v.Content}}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		var v struct {
			Content *string `json:"content"`
			Start   int     `json:"start"`
			Stop    int     `json:"stop"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		if v.Content == nil || utf8.RuneCountInString(*v.Content) != 1 {
			return nil, l.errf(field+".content", "must be one character")
		}
		if v.Start < 0 || v.Stop < 0 {
			return nil, l.errf(field, "start and stop must not be negative")
		}
		r, _ := utf8.DecodeRuneInString(*v.Content)
		return stripDecoder{content: r, start: v.Start, stop: v.Stop}, nil
	}
	return nil, l.errf(field+".type", "unsupported decoder %q (supported: Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)", typ)
}

// cleanUpSpaces is transformers' clean_up_tokenization: no space before
// punctuation and common English contractions.
func cleanUpSpaces(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	return cleanupReplacer(s)
}

var cleanupPairs = [][2]string{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

// cleanupReplacer applies the replacements one after the other, like the
// chained str.replace calls it mirrors (a single strings.Replacer would not).
func cleanupReplacer(s string) string {
	for _, p := range cleanupPairs {
		if strings.Contains(s, p[0]) {
			s = strings.ReplaceAll(s, p[0], p[1])
		}
	}
	return s
}

// cleanupSafe reports whether clean-up can never change text across a cut made
// right after c: c appears in no replacement pattern.
func cleanupSafe(c byte) bool {
	switch c {
	case ' ', '.', '?', '!', ',', '\'', 'n', 't', 'm', 's', 'v', 'e', 'r':
		return false
	}
	return true
}

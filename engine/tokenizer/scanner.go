package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The byte-level tokenizers split text with one of a few well-known regexes.
// Go's regexp lacks the look-ahead they use, and a backtracking engine is slow,
// so these are matched by a hand-written scanner that follows the regex's
// alternation order and backtracking exactly (tests check it against regexp2).
// \s is Unicode White_Space, as in Oniguruma, which Hugging Face's Rust
// tokenizers uses (so U+0085 is a space and U+FEFF is not; JavaScript ports
// such as transformers.js differ there).
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

type splitScanner struct {
	llama     bool // Llama 3 / Qwen 2 form (else GPT-2)
	maxDigits int  // 0: unbounded
}

func knownScanner(re string) pattern {
	switch re {
	case gpt2Pattern:
		return &splitScanner{}
	case llama3Pattern:
		return &splitScanner{llama: true, maxDigits: 3}
	case qwen2Pattern:
		return &splitScanner{llama: true, maxDigits: 1}
	}
	return nil
}

// character classes of the patterns
const (
	clsLetter = iota
	clsNumber
	clsSpace
	clsOther
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clsNumber
		case unicode.IsSpace(r):
			asciiClass[c] = clsSpace
		default:
			asciiClass[c] = clsOther
		}
	}
}

func classOf(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

func decodeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// runOf is the end of the run of characters of class cls starting at i.
func runOf(s string, i int, cls uint8) int {
	for i < len(s) {
		r, n := decodeAt(s, i)
		if classOf(r) != cls {
			break
		}
		i += n
	}
	return i
}

func (sc *splitScanner) findAll(s string) [][2]int {
	out := make([][2]int, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		end := sc.matchAt(s, i)
		out = append(out, [2]int{i, end})
		i = end
	}
	return out
}

// contraction matches 's 't 're 've 'm 'll 'd at i (case-insensitively for Llama 3).
func (sc *splitScanner) contraction(s string, i int) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	lower := func(c byte) byte {
		if sc.llama && c >= 'A' && c <= 'Z' {
			return c + 32
		}
		return c
	}
	c1 := lower(s[i+1])
	switch c1 {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if i+2 < len(s) {
			c2 := lower(s[i+2])
			if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
				return 3
			}
		}
	}
	return 0
}

// matchAt is the end of the match starting at i (the patterns match every
// character, so there is always one).
func (sc *splitScanner) matchAt(s string, i int) int {
	if n := sc.contraction(s, i); n > 0 {
		return i + n
	}
	r, n := decodeAt(s, i)
	cls := classOf(r)
	r2, n2 := decodeAt(s, i+n)
	cls2 := uint8(255)
	if n2 > 0 {
		cls2 = classOf(r2)
	}
	if sc.llama {
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if cls == clsLetter {
			return runOf(s, i+n, clsLetter)
		}
		if cls != clsNumber && r != '\r' && r != '\n' && cls2 == clsLetter {
			return runOf(s, i+n+n2, clsLetter)
		}
		// \p{N}{1,3}
		if cls == clsNumber {
			end := i + n
			for k := 1; sc.maxDigits == 0 || k < sc.maxDigits; k++ {
				r3, n3 := decodeAt(s, end)
				if n3 == 0 || classOf(r3) != clsNumber {
					break
				}
				end += n3
			}
			return end
		}
		// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
		if (r == ' ' && cls2 == clsOther) || cls == clsOther {
			start := i
			if cls != clsOther {
				start = i + n
			}
			end := runOf(s, start, clsOther)
			for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
				end++
			}
			return end
		}
		// cls is clsSpace from here on.
		j := runOf(s, i, clsSpace)
		// \s*[\r\n]+ : up to the last newline of the whitespace run
		for k := j - 1; k >= i; k-- {
			if s[k] == '\r' || s[k] == '\n' {
				return k + 1
			}
		}
		return spaceRunEnd(s, i, j)
	}
	// GPT-2: ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
	if cls == clsLetter || cls == clsNumber || cls == clsOther {
		return runOf(s, i+n, cls)
	}
	if r == ' ' && (cls2 == clsLetter || cls2 == clsNumber || cls2 == clsOther) {
		return runOf(s, i+n+n2, cls2)
	}
	return spaceRunEnd(s, i, runOf(s, i, clsSpace))
}

// spaceRunEnd applies '\s+(?!\S)|\s+' to the whitespace run [i, j): all of it at
// the end of the text or when it is one character, else all but the last one
// (which then leads the next word).
func spaceRunEnd(s string, i, j int) int {
	if j == len(s) {
		return j
	}
	_, last := utf8.DecodeLastRuneInString(s[:j])
	if j-last > i {
		return j - last
	}
	return j
}

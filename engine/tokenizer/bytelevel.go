package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible map from bytes to printable characters:
// printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
var byteToRune [256]rune

// runeToByte inverts byteToRune; -1 for characters outside the map.
var runeToByte [0x144]int16

func init() {
	for i := range runeToByte {
		runeToByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = int16(b)
	}
}

// byteLevelEncode maps raw bytes to their byte-level characters.
func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}

// byteLevelDecode maps a token's byte-level characters back to raw bytes; false
// when some character is outside the map (then the token stands for itself).
func byteLevelDecode(tok string) (string, bool) {
	buf := make([]byte, 0, len(tok))
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return "", false
		}
		buf = append(buf, byte(runeToByte[r]))
	}
	return string(buf), true
}

// appendLossy appends b to dst as valid UTF-8, replacing each invalid sequence by
// U+FFFD the way Rust's String::from_utf8_lossy does (one replacement per
// maximal prefix of a valid sequence, or per stray byte).
func appendLossy(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			dst = append(dst, b[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, b[i:i+n]...)
			i += n
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += invalidPrefixLen(b[i:])
	}
	return dst
}

// invalidPrefixLen is the length of the maximal prefix of b (which does not start
// a valid sequence) that could begin one: at least 1.
func invalidPrefixLen(b []byte) int {
	need, lo, hi := seqInfo(b[0])
	if need == 0 {
		return 1
	}
	k := 1
	for k < len(b) && k <= need {
		c := b[k]
		l, h := byte(0x80), byte(0xBF)
		if k == 1 {
			l, h = lo, hi
		}
		if c < l || c > h {
			break
		}
		k++
	}
	return k
}

// seqInfo gives, for a lead byte, how many continuation bytes follow and the
// allowed range of the first continuation byte; need 0 for an invalid lead.
func seqInfo(c byte) (need int, lo, hi byte) {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 1, 0x80, 0xBF
	case c == 0xE0:
		return 2, 0xA0, 0xBF
	case c == 0xED:
		return 2, 0x80, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		return 2, 0x80, 0xBF
	case c == 0xF0:
		return 3, 0x90, 0xBF
	case c >= 0xF1 && c <= 0xF3:
		return 3, 0x80, 0xBF
	case c == 0xF4:
		return 3, 0x80, 0x8F
	}
	return 0, 0, 0
}

// incompleteTail is the length of a trailing sequence of b that is a proper
// prefix of a valid UTF-8 sequence (more bytes could still complete it); 0 if none.
func incompleteTail(b string) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		start := len(b) - k
		need, lo, hi := seqInfo(b[start])
		if need == 0 {
			if b[start] >= 0x80 && b[start] <= 0xBF {
				continue // a continuation byte: look further back for the lead
			}
			return 0
		}
		if k > need {
			return 0 // complete (or invalid) sequence
		}
		for j := 1; j < k; j++ {
			c := b[start+j]
			l, h := byte(0x80), byte(0xBF)
			if j == 1 {
				l, h = lo, hi
			}
			if c < l || c > h {
				return 0
			}
		}
		return k
	}
	return 0
}

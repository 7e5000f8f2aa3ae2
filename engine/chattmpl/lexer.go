package chattmpl

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The lexer follows @huggingface/jinja's, because its whitespace rules
// (trim_blocks and lstrip_blocks applied to the source text before
// tokenizing, "-" trimming JavaScript whitespace) decide the exact bytes of
// every rendering. Each byte of the preprocessed text keeps its offset in the
// original source so errors can name a line and column.

type tokKind uint8

const (
	tText tokKind = iota
	tNumber
	tString
	tIdent
	tEquals
	tLParen
	tRParen
	tOpenStmt
	tCloseStmt
	tOpenExpr
	tCloseExpr
	tLBracket
	tRBracket
	tLBrace
	tRBrace
	tComma
	tDot
	tColon
	tPipe
	tAdditive       // + - ~
	tMultiplicative // * / // %
	tPower          // **
	tComparison     // < > <= >= == !=
	tUnary          // unary - +
	tComment
)

var tokNames = [...]string{
	tText: "text", tNumber: "number", tString: "string", tIdent: "name", tEquals: "'='",
	tLParen: "'('", tRParen: "')'", tOpenStmt: "'{%'", tCloseStmt: "'%}'", tOpenExpr: "'{{'",
	tCloseExpr: "'}}'", tLBracket: "'['", tRBracket: "']'", tLBrace: "'{'", tRBrace: "'}'",
	tComma: "','", tDot: "'.'", tColon: "':'", tPipe: "'|'", tAdditive: "operator",
	tMultiplicative: "operator", tPower: "'**'", tComparison: "comparison", tUnary: "unary operator",
	tComment: "comment",
}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	val  string
	pos  int // byte offset in the original source
}

// ptext is text with, for each byte, its offset in the original source.
type ptext struct {
	s   []byte
	pos []int32
}

func (p *ptext) add(s []byte, pos []int32) {
	p.s = append(p.s, s...)
	p.pos = append(p.pos, pos...)
}

// isJSSpace is JavaScript's \s.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// spaceAt reports whether a JavaScript whitespace character starts at s[i], and its size.
func spaceAt(s []byte, i int) (bool, int) {
	if i >= len(s) {
		return false, 0
	}
	if s[i] < utf8.RuneSelf {
		return isJSSpace(rune(s[i])), 1
	}
	r, n := utf8.DecodeRune(s[i:])
	return isJSSpace(r), n
}

// jsTrimRight trims JavaScript whitespace from the end of s.
func jsTrimRight(s string) string {
	return strings.TrimRightFunc(s, isJSSpace)
}

// lineStart reports whether offset i begins a line for a JavaScript /m regex.
func lineStart(s []byte, i int) bool {
	if i == 0 {
		return true
	}
	switch s[i-1] {
	case '\n', '\r':
		return true
	}
	// U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
	return i >= 3 && s[i-3] == 0xe2 && s[i-2] == 0x80 && (s[i-1] == 0xa8 || s[i-1] == 0xa9)
}

// preprocess applies, in @huggingface/jinja's order: drop one trailing newline,
// lstrip_blocks, trim_blocks, and removal of {% generation %} tags.
func preprocess(src string) ptext {
	in := ptext{s: []byte(src), pos: make([]int32, len(src))}
	for i := range in.pos {
		in.pos[i] = int32(i)
	}
	if n := len(in.s); n > 0 && in.s[n-1] == '\n' {
		in.s, in.pos = in.s[:n-1], in.pos[:n-1]
	}

	// lstrip_blocks: spaces and tabs before a block or comment tag at the
	// start of a line go ("^[ \t]*({[#%-])" with /gm).
	out := ptext{s: make([]byte, 0, len(in.s)), pos: make([]int32, 0, len(in.s))}
	last := 0
	for i := 0; i < len(in.s); i++ {
		if !lineStart(in.s, i) {
			continue
		}
		j := i
		for j < len(in.s) && (in.s[j] == ' ' || in.s[j] == '\t') {
			j++
		}
		if j > i && j+1 < len(in.s) && in.s[j] == '{' && (in.s[j+1] == '#' || in.s[j+1] == '%' || in.s[j+1] == '-') {
			out.add(in.s[last:i], in.pos[last:i])
			last = j
			i = j - 1
		}
	}
	out.add(in.s[last:], in.pos[last:])
	in = out

	// trim_blocks: the first newline after a block or comment tag goes ("([#%-]})\n").
	out = ptext{s: make([]byte, 0, len(in.s)), pos: make([]int32, 0, len(in.s))}
	last = 0
	for i := 0; i+2 < len(in.s); i++ {
		if (in.s[i] == '#' || in.s[i] == '%' || in.s[i] == '-') && in.s[i+1] == '}' && in.s[i+2] == '\n' {
			out.add(in.s[last:i+2], in.pos[last:i+2])
			last = i + 3
			i += 2
		}
	}
	out.add(in.s[last:], in.pos[last:])
	in = out

	// {% generation %} / {% endgeneration %} tags vanish; the whitespace around
	// them stays unless the tag has "-" on that side.
	if !strings.Contains(string(in.s), "generation") {
		return in
	}
	out = ptext{s: make([]byte, 0, len(in.s)), pos: make([]int32, 0, len(in.s))}
	last = 0
	for i := 0; i < len(in.s); {
		j := i
		for {
			sp, n := spaceAt(in.s, j)
			if !sp {
				break
			}
			j += n
		}
		end, lstrip, rstrip, ok := matchGenerationTag(in.s, j)
		if !ok {
			if j > i {
				i = j // a whitespace run not followed by the tag
			} else {
				i++
			}
			continue
		}
		k := end
		for {
			sp, n := spaceAt(in.s, k)
			if !sp {
				break
			}
			k += n
		}
		out.add(in.s[last:i], in.pos[last:i])
		if !lstrip {
			out.add(in.s[i:j], in.pos[i:j])
		}
		if !rstrip {
			out.add(in.s[end:k], in.pos[end:k])
		}
		i, last = k, k
	}
	out.add(in.s[last:], in.pos[last:])
	return out
}

// matchGenerationTag matches `{%(-?)\s*(?:end)?generation\s*(-?)%}` at s[i:].
func matchGenerationTag(s []byte, i int) (end int, lstrip, rstrip, ok bool) {
	if i+1 >= len(s) || s[i] != '{' || s[i+1] != '%' {
		return 0, false, false, false
	}
	i += 2
	if i < len(s) && s[i] == '-' {
		lstrip = true
		i++
	}
	for {
		sp, n := spaceAt(s, i)
		if !sp {
			break
		}
		i += n
	}
	if i+3 <= len(s) && string(s[i:i+3]) == "end" {
		i += 3
	}
	if i+10 > len(s) || string(s[i:i+10]) != "generation" {
		return 0, false, false, false
	}
	i += 10
	for {
		sp, n := spaceAt(s, i)
		if !sp {
			break
		}
		i += n
	}
	if i < len(s) && s[i] == '-' {
		rstrip = true
		i++
	}
	if i+1 >= len(s) || s[i] != '%' || s[i+1] != '}' {
		return 0, false, false, false
	}
	return i + 2, lstrip, rstrip, true
}

// lexError is a tokenizing error at an original-source offset.
type lexError struct {
	pos int
	msg string
}

func (e *lexError) Error() string { return e.msg }

var opTable = []struct {
	seq  string
	kind tokKind
}{
	{"{%", tOpenStmt}, {"%}", tCloseStmt}, {"{{", tOpenExpr}, {"}}", tCloseExpr},
	{"(", tLParen}, {")", tRParen}, {"{", tLBrace}, {"}", tRBrace}, {"[", tLBracket}, {"]", tRBracket},
	{",", tComma}, {".", tDot}, {":", tColon}, {"|", tPipe},
	{"<=", tComparison}, {">=", tComparison}, {"==", tComparison}, {"!=", tComparison}, {"<", tComparison}, {">", tComparison},
	{"+", tAdditive}, {"-", tAdditive}, {"~", tAdditive},
	{"**", tPower}, {"*", tMultiplicative}, {"//", tMultiplicative}, {"/", tMultiplicative}, {"%", tMultiplicative},
	{"=", tEquals},
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isWordByte(c byte) bool {
	return c == '_' || isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// tokenize turns a template into tokens, exactly as @huggingface/jinja does
// with trim_blocks and lstrip_blocks on.
func tokenize(src string) ([]token, error) {
	p := preprocess(src)
	s := p.s
	n := len(s)
	orig := func(i int) int {
		if i < len(p.pos) {
			return int(p.pos[i])
		}
		return len(src)
	}
	var toks []token
	cur := 0
	curly := 0
	last := func() tokKind {
		if len(toks) == 0 {
			return 255
		}
		return toks[len(toks)-1].kind
	}
	stripTrailing := func() {
		if len(toks) > 0 && toks[len(toks)-1].kind == tText {
			t := &toks[len(toks)-1]
			t.val = jsTrimRight(t.val)
			if t.val == "" {
				toks = toks[:len(toks)-1]
			}
		}
	}
	skipSpace := func() {
		for {
			sp, k := spaceAt(s, cur)
			if !sp {
				return
			}
			cur += k
		}
	}
	for cur < n {
		lk := last()
		if lk == 255 || lk == tCloseStmt || lk == tCloseExpr || lk == tComment {
			start := cur
			for cur < n && !(s[cur] == '{' && cur+1 < n && (s[cur+1] == '%' || s[cur+1] == '{' || s[cur+1] == '#')) {
				cur++
			}
			if cur > start {
				toks = append(toks, token{tText, string(s[start:cur]), orig(start)})
				continue
			}
		}
		start := cur
		if s[cur] == '{' && cur+1 < n && s[cur+1] == '#' {
			cur += 2
			stripBefore := cur < n && s[cur] == '-'
			if stripBefore {
				cur++
			}
			end := strings.Index(string(s[cur:]), "#}")
			if end < 0 {
				return nil, &lexError{orig(start), "comment is not closed: missing #}"}
			}
			comment := string(s[cur : cur+end])
			cur += end + 2
			stripAfter := strings.HasSuffix(comment, "-")
			if stripBefore {
				stripTrailing()
			}
			toks = append(toks, token{tComment, strings.TrimSuffix(comment, "-"), orig(start)})
			if stripAfter {
				skipSpace()
			}
			continue
		}
		if cur+2 < n && s[cur] == '{' && s[cur+1] == '%' && s[cur+2] == '-' {
			stripTrailing()
			toks = append(toks, token{tOpenStmt, "{%", orig(start)})
			cur += 3
			continue
		}
		if cur+2 < n && s[cur] == '{' && s[cur+1] == '{' && s[cur+2] == '-' {
			stripTrailing()
			toks = append(toks, token{tOpenExpr, "{{", orig(start)})
			curly = 0
			cur += 3
			continue
		}
		skipSpace()
		if cur >= n {
			return nil, &lexError{orig(start), "unexpected end of template inside a tag"}
		}
		start = cur
		if cur+2 < n && s[cur] == '-' && s[cur+1] == '%' && s[cur+2] == '}' {
			toks = append(toks, token{tCloseStmt, "%}", orig(start)})
			cur += 3
			skipSpace()
			continue
		}
		if cur+2 < n && s[cur] == '-' && s[cur+1] == '}' && s[cur+2] == '}' {
			toks = append(toks, token{tCloseExpr, "}}", orig(start)})
			cur += 3
			skipSpace()
			continue
		}
		c := s[cur]
		if c == '-' || c == '+' {
			switch lk := last(); lk {
			case tText, 255:
				return nil, &lexError{orig(start), "unexpected character " + string(c)}
			case tIdent, tNumber, tString, tRParen, tRBracket:
				// a binary operator: found in the table below
			default:
				cur++
				ds := cur
				for cur < n && isDigit(s[cur]) {
					cur++
				}
				num := string(s[ds:cur])
				if num != "" && cur+1 < n && s[cur] == '.' && isDigit(s[cur+1]) {
					cur++
					for cur < n && isDigit(s[cur]) {
						cur++
					}
					num = string(s[ds:cur])
				}
				if num != "" {
					toks = append(toks, token{tNumber, string(c) + num, orig(start)})
				} else {
					toks = append(toks, token{tUnary, string(c), orig(start)})
				}
				continue
			}
		}
		matched := false
		for _, op := range opTable {
			if op.seq == "}}" && curly > 0 {
				continue
			}
			if cur+len(op.seq) <= n && string(s[cur:cur+len(op.seq)]) == op.seq {
				toks = append(toks, token{op.kind, op.seq, orig(start)})
				switch op.kind {
				case tOpenExpr:
					curly = 0
				case tLBrace:
					curly++
				case tRBrace:
					curly--
				}
				cur += len(op.seq)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if c == '\'' || c == '"' {
			cur++
			str, next, err := lexString(s, cur, c)
			if err != nil {
				return nil, &lexError{orig(start), err.Error()}
			}
			cur = next
			toks = append(toks, token{tString, str, orig(start)})
			continue
		}
		if isDigit(c) {
			for cur < n && isDigit(s[cur]) {
				cur++
			}
			if last() != tDot && cur+1 < n && s[cur] == '.' && isDigit(s[cur+1]) {
				cur++
				for cur < n && isDigit(s[cur]) {
					cur++
				}
			}
			toks = append(toks, token{tNumber, string(s[start:cur]), orig(start)})
			continue
		}
		if isWordByte(c) {
			for cur < n && isWordByte(s[cur]) {
				cur++
			}
			toks = append(toks, token{tIdent, string(s[start:cur]), orig(start)})
			continue
		}
		r, _ := utf8.DecodeRune(s[cur:])
		return nil, &lexError{orig(start), "unexpected character " + quoteRune(r)}
	}
	return toks, nil
}

func quoteRune(r rune) string { return strconv.QuoteRune(r) }

type errString string

func (e errString) Error() string { return string(e) }

// lexString reads a string literal body starting at s[i] up to the closing
// quote q, decoding backslash escapes (\n \t \r \b \f \v \' \" \\ \xHH \uHHHH;
// \u surrogate pairs combine as in JavaScript).
func lexString(s []byte, i int, q byte) (string, int, error) {
	var units []uint16
	for {
		if i >= len(s) {
			return "", i, errString("string literal is not closed")
		}
		c := s[i]
		if c == q {
			return string(utf16.Decode(units)), i + 1, nil
		}
		if c == '\\' {
			i++
			if i >= len(s) {
				return "", i, errString("string literal is not closed")
			}
			e := s[i]
			i++
			switch e {
			case 'n':
				units = append(units, '\n')
			case 't':
				units = append(units, '\t')
			case 'r':
				units = append(units, '\r')
			case 'b':
				units = append(units, '\b')
			case 'f':
				units = append(units, '\f')
			case 'v':
				units = append(units, '\v')
			case '\'', '"', '\\':
				units = append(units, uint16(e))
			case 'x', 'u':
				l := 2
				if e == 'u' {
					l = 4
				}
				if i+l > len(s) {
					return "", i, errString("invalid hexadecimal escape sequence \\" + string(e))
				}
				var v uint16
				for _, h := range s[i : i+l] {
					var d byte
					switch {
					case h >= '0' && h <= '9':
						d = h - '0'
					case h >= 'a' && h <= 'f':
						d = h - 'a' + 10
					case h >= 'A' && h <= 'F':
						d = h - 'A' + 10
					default:
						return "", i, errString("invalid hexadecimal escape sequence \\" + string(e) + string(s[i:i+l]))
					}
					v = v<<4 | uint16(d)
				}
				units = append(units, v)
				i += l
			default:
				return "", i, errString("unexpected escaped character \\" + string(e))
			}
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Keep invalid bytes as U+FFFD, as a JavaScript string would hold them.
			units = append(units, 0xfffd)
		} else if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			units = append(units, uint16(r1), uint16(r2))
		} else {
			units = append(units, uint16(r))
		}
		i += size
	}
}

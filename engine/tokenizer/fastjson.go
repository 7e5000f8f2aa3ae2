package tokenizer

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A tokenizer.json is mostly its vocabulary and merges (33 MB for Gemma 3), and
// encoding/json spends seconds on them through reflection. fastModel reads the
// file with a small purpose-built scanner instead: the top-level sections are
// cut out raw, and the model's vocab and merges are decoded directly. Anything
// it does not expect makes it give up, and the caller falls back to
// encoding/json, whose errors are then reported.

// jscan walks JSON bytes.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string. The returned bytes alias the input when the string has no
// escapes; scratch is used (and returned grown) otherwise.
func (s *jscan) str(scratch []byte) (val []byte, buf []byte, ok bool) {
	if !s.eat('"') {
		return nil, scratch, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return nil, scratch, false
			}
			return v, scratch, true
		}
		if c == '\\' {
			return s.strEscaped(start, scratch)
		}
		if c < 0x20 {
			return nil, scratch, false
		}
		s.i++
	}
	return nil, scratch, false
}

func (s *jscan) strEscaped(start int, buf []byte) ([]byte, []byte, bool) {
	buf = append(buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(buf) {
				return nil, buf, false
			}
			return buf, buf, true
		case c < 0x20:
			return nil, buf, false
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, buf, false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, buf, false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if r2, ok = s.hex4(); !ok {
						return nil, buf, false
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						s.i = save // not a pair: the second escape stands alone
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, buf, false
		}
	}
	return nil, buf, false
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// integer reads a plain non-negative integer that fits an int32.
func (s *jscan) integer() (int32, bool) {
	s.ws()
	start := s.i
	var v int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int64(s.b[s.i]-'0')
		if v > 1<<30 {
			return 0, false
		}
		s.i++
	}
	if s.i == start || (s.b[start] == '0' && s.i-start > 1) {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return int32(v), true
}

// skip passes over one value of any kind, returning its raw bytes.
func (s *jscan) skip() ([]byte, bool) {
	s.ws()
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch c {
		case '"':
			if _, _, ok := s.str(nil); !ok {
				return nil, false
			}
			if depth == 0 {
				return s.b[start:s.i], true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, false
			}
			if depth == 0 {
				s.i++
				return s.b[start:s.i], true
			}
		case ' ', '\t', '\n', '\r', ',', ':':
			if depth == 0 {
				return s.b[start:s.i], s.i > start
			}
		default:
			if depth == 0 {
				// a scalar: read to the next delimiter
				for s.i < len(s.b) {
					switch s.b[s.i] {
					case ',', '}', ']', ' ', '\t', '\n', '\r':
						return s.b[start:s.i], true
					}
					s.i++
				}
				return s.b[start:s.i], true
			}
		}
		s.i++
	}
	return nil, false
}

// object calls f for each key of an object, f reading the value.
func (s *jscan) object(f func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	var scratch []byte
	for {
		key, sc, ok := s.str(scratch)
		scratch = sc
		if !ok || !s.eat(':') {
			return false
		}
		if !f(key) {
			return false
		}
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}

// fastModel is what the fast path extracts from tokenizer.json.
type fastModel struct {
	top       rawTokenizer // every section but the model
	hasModel  bool
	model     rawModel // model settings, Vocab included
	mergesRaw []byte
}

// fastParse reads tokenizer.json without reflection on its big parts; ok false
// means "use encoding/json" (which will also produce any error message).
func fastParse(data []byte) (*fastModel, bool) {
	s := &jscan{b: data}
	fm := &fastModel{}
	// Sections other than "model" are small: they go to encoding/json as one object.
	rest := []byte{'{'}
	okTop := s.object(func(key []byte) bool {
		if string(key) != "model" {
			v, ok := s.skip()
			if !ok {
				return false
			}
			rest = appendMember(rest, key, v)
			return true
		}
		if s.peek() == 'n' {
			v, ok := s.skip()
			rest = appendMember(rest, key, v)
			return ok
		}
		fm.hasModel = true
		modelRest := []byte{'{'}
		ok := s.object(func(mkey []byte) bool {
			switch string(mkey) {
			case "vocab":
				if s.peek() != '{' {
					return false
				}
				vocab := make(map[string]int32, 1024)
				ok := s.object(func(tok []byte) bool {
					id, ok := s.integer()
					if ok {
						vocab[string(tok)] = id
					}
					return ok
				})
				fm.model.Vocab = vocab
				return ok
			case "merges":
				v, ok := s.skip()
				fm.mergesRaw = v
				return ok
			}
			v, ok := s.skip()
			modelRest = appendMember(modelRest, mkey, v)
			return ok
		})
		if !ok {
			return false
		}
		vocab := fm.model.Vocab
		if json.Unmarshal(closeObject(modelRest), &fm.model) != nil {
			return false
		}
		fm.model.Vocab = vocab
		fm.model.Merges = fm.mergesRaw
		return true
	})
	if !okTop || s.peek() != 0 {
		return nil, false
	}
	if json.Unmarshal(closeObject(rest), &fm.top) != nil {
		return nil, false
	}
	return fm, true
}

func appendMember(obj, key, val []byte) []byte {
	if len(obj) > 1 {
		obj = append(obj, ',')
	}
	obj = strconv.AppendQuote(obj, string(key))
	obj = append(obj, ':')
	return append(obj, val...)
}

func closeObject(obj []byte) []byte { return append(obj, '}') }

// fastMerges decodes merges ("a b" strings or ["a", "b"] pairs), calling f with
// each pair's two parts (valid only during the call).
func fastMerges(raw []byte, f func(i int, a, b []byte) bool) bool {
	s := &jscan{b: raw}
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	var scA, scB []byte
	for i := 0; ; i++ {
		var a, b []byte
		var ok bool
		if s.peek() == '[' {
			s.i++
			if a, scA, ok = s.str(scA); !ok || !s.eat(',') {
				return false
			}
			if b, scB, ok = s.str(scB); !ok || !s.eat(']') {
				return false
			}
		} else {
			var v []byte
			if v, scA, ok = s.str(scA); !ok {
				return false
			}
			sp := -1
			for j, c := range v {
				if c == ' ' {
					sp = j
					break
				}
			}
			if sp < 0 {
				return false
			}
			a, b = v[:sp], v[sp+1:]
		}
		if !f(i, a, b) {
			return false
		}
		if s.eat(',') {
			continue
		}
		return s.eat(']') && s.peek() == 0
	}
}

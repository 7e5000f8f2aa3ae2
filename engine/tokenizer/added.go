package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json "added_tokens".
type addedToken struct {
	id         int32
	content    string
	singleWord bool
	lstrip     bool
	rstrip     bool
	normalized bool
	special    bool
}

// addedVocab finds added tokens in text before the model sees it: the
// non-normalized ones in the raw text, the normalized ones in normalized text,
// both leftmost-longest like Hugging Face's Aho-Corasick matcher.
type addedVocab struct {
	tokens    []addedToken
	byContent map[string]int32
	raw       *trie // tokens with normalized=false
	norm      *trie // tokens with normalized=true, keyed by their normalized form
}

// segment is a piece of text: an added token (id >= 0) or text for the model.
type segment struct {
	text  string
	start int // byte offset in the string that was split
	id    int32
}

func (av *addedVocab) build(n normalizer) {
	for i := range av.tokens {
		tk := &av.tokens[i]
		if tk.normalized {
			key := tk.content
			if n != nil {
				key = n.normalize(key)
			}
			if av.norm == nil {
				av.norm = newTrie()
			}
			av.norm.insert(key, int32(i))
		} else {
			if av.raw == nil {
				av.raw = newTrie()
			}
			av.raw.insert(tk.content, int32(i))
		}
	}
}

// split cuts s around the added tokens of one kind (normalized or not).
func (av *addedVocab) split(s string, normalized bool) []segment {
	tr := av.raw
	if normalized {
		tr = av.norm
	}
	if tr == nil || s == "" {
		return []segment{{text: s, id: -1}}
	}
	var out []segment
	offset := 0 // end of the last emitted piece
	for pos := 0; pos < len(s); {
		start := tr.nextCandidate(s, pos)
		if start < 0 {
			break
		}
		idx, end := tr.longest(s, start)
		if idx < 0 {
			pos = start + 1
			continue
		}
		tk := &av.tokens[idx]
		pos = end
		if tk.singleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:start])
			after, _ := utf8.DecodeRuneInString(s[end:])
			if (start > 0 && isWordChar(before)) || (end < len(s) && isWordChar(after)) {
				continue
			}
		}
		if start < offset {
			continue // inside what a previous token's rstrip took
		}
		mStart, mEnd := start, end
		if tk.lstrip {
			for mStart > offset {
				r, n := utf8.DecodeLastRuneInString(s[:mStart])
				if !unicode.IsSpace(r) {
					break
				}
				mStart -= n
			}
		}
		if tk.rstrip {
			for mEnd < len(s) {
				r, n := utf8.DecodeRuneInString(s[mEnd:])
				if !unicode.IsSpace(r) {
					break
				}
				mEnd += n
			}
			pos = mEnd
		}
		if offset < mStart {
			out = append(out, segment{text: s[offset:mStart], start: offset, id: -1})
		}
		out = append(out, segment{text: s[mStart:mEnd], start: mStart, id: tk.id})
		offset = mEnd
	}
	if offset < len(s) || len(out) == 0 {
		out = append(out, segment{text: s[offset:], start: offset, id: -1})
	}
	return out
}

// isWordChar is \w of the Rust regex crate: letters, marks, decimal digits,
// connector punctuation and joiners.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || r == 0x200C || r == 0x200D
}

// trie is a byte trie over the added tokens' contents.
type trie struct {
	next      map[uint64]int32 // node<<8 | byte → child node
	value     []int32          // per node: index of the token ending here, -1 if none
	firstByte [256]bool
}

func newTrie() *trie {
	return &trie{next: map[uint64]int32{}, value: []int32{-1}}
}

func (t *trie) insert(s string, idx int32) {
	if s == "" {
		return
	}
	t.firstByte[s[0]] = true
	node := int32(0)
	for i := 0; i < len(s); i++ {
		key := uint64(node)<<8 | uint64(s[i])
		child, ok := t.next[key]
		if !ok {
			child = int32(len(t.value))
			t.value = append(t.value, -1)
			t.next[key] = child
		}
		node = child
	}
	if t.value[node] < 0 {
		t.value[node] = idx
	}
}

// nextCandidate is the first position >= pos whose byte can start a token, or -1.
func (t *trie) nextCandidate(s string, pos int) int {
	for i := pos; i < len(s); i++ {
		if t.firstByte[s[i]] {
			return i
		}
	}
	return -1
}

// longest is the longest token starting at pos: its index and end, or -1.
func (t *trie) longest(s string, pos int) (int32, int) {
	node := int32(0)
	best, bestEnd := int32(-1), -1
	for i := pos; i < len(s); i++ {
		child, ok := t.next[uint64(node)<<8|uint64(s[i])]
		if !ok {
			break
		}
		node = child
		if v := t.value[node]; v >= 0 {
			best, bestEnd = v, i+1
		}
	}
	return best, bestEnd
}

package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// streamMode is how a tokenizer's decoder chain is decoded incrementally.
type streamMode int

const (
	// streamByteLevel: the chain is ByteLevel alone; bytes are emitted as soon
	// as they complete UTF-8 characters.
	streamByteLevel streamMode = iota
	// streamWindow: SentencePiece-style chains; tokens gather in a window until
	// a point where nothing later can change them (no open byte-fallback run,
	// the leading Strip settled), then the window is decoded and emitted.
	streamWindow
	// streamJoin: no decoder; tokens are joined with spaces.
	streamJoin
	// streamFull: any other chain; the whole sequence is re-decoded each step
	// and only text that can no longer change is emitted.
	streamFull
)

type streamPlan struct {
	mode            streamMode
	hasByteFallback bool
}

// flattenDecoder lists the steps of a (possibly nested) Sequence decoder.
func flattenDecoder(d decoderStep) []decoderStep {
	if q, ok := d.(seqDecoder); ok {
		var out []decoderStep
		for _, s := range q {
			out = append(out, flattenDecoder(s)...)
		}
		return out
	}
	return []decoderStep{d}
}

func (t *Tokenizer) prepareStream() {
	if t.decoder == nil {
		t.stream.mode = streamJoin
		return
	}
	steps := flattenDecoder(t.decoder)
	if len(steps) == 1 {
		if _, ok := steps[0].(byteLevelDecoder); ok {
			t.stream.mode = streamByteLevel
			return
		}
	}
	t.stream.mode = streamWindow
	fused := false
	for _, s := range steps {
		switch d := s.(type) {
		case byteFallbackDecoder:
			t.stream.hasByteFallback = true
		case fuseDecoder:
			fused = true
		case metaspaceDecoder:
		case replaceDecoder:
			// After a fuse a match could span two windows, unless it is one character.
			if fused && (d.n.pat != nil || utf8.RuneCountInString(d.n.literal) != 1) {
				t.stream.mode = streamFull
			}
		case stripDecoder:
			if fused && d.stop > 0 {
				t.stream.mode = streamFull
			}
		default:
			t.stream.mode = streamFull
		}
	}
}

// prepareModel finishes what needs every component parsed.
func (t *Tokenizer) prepareModel() {
	t.added.build(t.normalizer)
	lazy := false
	var visit func(p preTokenizer)
	visit = func(p preTokenizer) {
		switch v := p.(type) {
		case seqPreTokenizer:
			for _, s := range v {
				visit(s)
			}
		case *byteLevelPreTokenizer:
			if v.lazy && (t.model.contPrefix != "" || t.model.eowSuffix != "") {
				v.lazy = false // the generic path handles prefixes and suffixes
			}
			lazy = lazy || v.lazy
		}
	}
	visit(t.preTokenizer)
	if lazy {
		t.model.prepareRaw()
	} else {
		t.model.prepareChunks()
	}
}

// StreamDecoder turns ids into text one at a time during generation. The
// concatenation of everything Add and Flush return equals Decode of all ids:
// text is emitted only once later tokens can no longer change it (whole UTF-8
// characters, SentencePiece leading-space rules, clean-up of spaces).
// Not safe for concurrent use.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool

	pending []byte   // streamByteLevel: bytes not yet forming whole characters
	window  []string // streamWindow: tokens since the last settled point
	started bool     // a token has been decoded (the window is past the start)
	all     []string // streamFull: every token
	emitted string   // streamFull: text already returned
	held    string   // clean-up: text waiting for a cut the clean-up cannot cross
}

// NewStreamDecoder starts decoding a new sequence.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Add takes the next id and returns the text that is now final ("" if none).
func (s *StreamDecoder) Add(id int32) string {
	tok, ok := s.t.tokenFor(id, s.skipSpecial)
	if !ok {
		return ""
	}
	switch s.t.stream.mode {
	case streamByteLevel:
		s.pending = appendByteLevel(s.pending, tok)
		cut := len(s.pending) - incompleteTail(string(s.pending))
		if cut == 0 {
			return ""
		}
		out := string(appendLossy(nil, s.pending[:cut]))
		s.pending = append(s.pending[:0], s.pending[cut:]...)
		return s.filter(out)
	case streamJoin:
		if s.started {
			tok = " " + tok
		}
		s.started = true
		return s.filter(tok)
	case streamWindow:
		s.window = append(s.window, tok)
		if s.t.stream.hasByteFallback {
			if _, isByte := byteToken(tok); isByte {
				return "" // the byte run may go on; its text depends on all of it
			}
		}
		o := chainOpts{atStart: !s.started}
		text := s.t.decodeWindow(s.window, &o)
		if o.stripPending {
			return ""
		}
		s.started = true
		s.window = s.window[:0]
		return s.filter(text)
	default:
		s.all = append(s.all, tok)
		text := s.t.decodeTokens(s.all, chainOpts{atStart: true, final: false})
		if !strings.HasPrefix(text, s.emitted) {
			return "" // earlier text changed: wait for Flush
		}
		// Hold back the last characters: a later token may still change them.
		end := len(text)
		for k := 0; k < 4 && end > len(s.emitted); k++ {
			_, n := utf8.DecodeLastRuneInString(text[:end])
			end -= n
		}
		if end <= len(s.emitted) {
			return ""
		}
		out := text[len(s.emitted):end]
		s.emitted = text[:end]
		return s.filter(out)
	}
}

func (t *Tokenizer) decodeWindow(toks []string, o *chainOpts) string {
	out, _ := t.decoder.decodeChain(toks, o)
	return strings.Join(out, "")
}

// Flush returns the text still held back and resets the decoder for a new
// sequence.
func (s *StreamDecoder) Flush() string {
	var out string
	switch s.t.stream.mode {
	case streamByteLevel:
		out = string(appendLossy(nil, s.pending))
		s.pending = s.pending[:0]
	case streamWindow:
		if len(s.window) > 0 {
			o := chainOpts{atStart: !s.started, final: true}
			out = s.t.decodeWindow(s.window, &o)
			s.window = s.window[:0]
		}
	case streamFull:
		text := s.t.decodeTokens(s.all, chainOpts{atStart: true, final: true})
		if strings.HasPrefix(text, s.emitted) {
			out = text[len(s.emitted):]
		} else if len(text) > len(s.emitted) {
			out = text[len(s.emitted):]
		}
		s.all, s.emitted = nil, ""
	}
	out = s.held + out
	s.held = ""
	if s.t.cleanup {
		out = cleanUpSpaces(out)
	}
	s.started = false
	return out
}

// filter applies clean-up of spaces to streamed text: it holds back text until
// a character that no clean-up pattern contains, since cutting after such a
// character commutes with the clean-up.
func (s *StreamDecoder) filter(text string) string {
	if !s.t.cleanup {
		return text
	}
	s.held += text
	cut := -1
	for end := len(s.held); end > 0; {
		r, n := utf8.DecodeLastRuneInString(s.held[:end])
		if r >= utf8.RuneSelf || cleanupSafe(byte(r)) {
			cut = end
			break
		}
		end -= n
	}
	if cut <= 0 {
		return ""
	}
	out := cleanUpSpaces(s.held[:cut])
	s.held = s.held[cut:]
	return out
}

package tokenizer

import (
	"encoding/binary"
	"slices"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// tinyByteLevel is a small byte-level tokenizer.json: every byte, a few
// merges, an added special token and the Llama 3 split regex.
const tinyByteLevel = `{
  "version": "1.0",
  "added_tokens": [
    {"id": 262, "content": "<|eot|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 263, "content": "<tool>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
  ]},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<|eot|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<|eot|>": {"id": "<|eot|>", "ids": [262], "tokens": ["<|eot|>"]}}},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
    "vocab": VOCAB,
    "merges": [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["l", "l"], ["e", "ll"], ["h", "ell"]]}
}`

// tinyVocab lists the 256 byte-level characters plus the merged tokens.
func tinyVocab() string {
	var b []byte
	b = append(b, '{')
	for i := 0; i < 256; i++ {
		b = appendJSONString(b, string(byteToRune[i]))
		b = append(b, ':')
		b = appendInt(b, i)
		b = append(b, ',')
	}
	for i, tok := range []string{"Ġt", "he", "Ġthe", "ll", "ell", "hell"} {
		b = appendJSONString(b, tok)
		b = append(b, ':')
		b = appendInt(b, 256+i)
		if i < 5 {
			b = append(b, ',')
		}
	}
	return string(append(b, '}'))
}

func appendInt(b []byte, v int) []byte {
	return append(b, []byte(itoa(v))...)
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var d []byte
	for v > 0 {
		d = append([]byte{byte('0' + v%10)}, d...)
		v /= 10
	}
	return string(d)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func tinyByteLevelJSON() []byte {
	return []byte(replaceOnce(tinyByteLevel, "VOCAB", tinyVocab()))
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// tinySentencePiece is a small Llama 2 style tokenizer.json.
const tinySentencePiece = `{
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true, "normalized": false},
    {"id": 1, "content": "<s>", "special": true, "normalized": false},
    {"id": 2, "content": "</s>", "special": true, "normalized": false}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xC3>": 4, "<0xA9>": 5, "<0xE2>": 6, "<0x82>": 7, "<0xAC>": 8,
      "▁": 9, "h": 10, "e": 11, "l": 12, "o": 13, "▁h": 14, "el": 15, "▁hel": 16, "lo": 17, "▁hello": 18, "w": 19, "r": 20, "d": 21, "▁▁": 22},
    "merges": ["▁ h", "e l", "▁h el", "l o", "▁hel lo", "▁ ▁"]}
}`

// FuzzParse feeds arbitrary bytes to the tokenizer.json reader: it must return
// a tokenizer or an error, never panic or hang, and the fast reader must agree
// with encoding/json.
func FuzzParse(f *testing.F) {
	f.Add(tinyByteLevelJSON())
	f.Add([]byte(tinySentencePiece))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}`))
	f.Add([]byte(`{"model": {"vocab": {"a\u00e9\ud83d\ude00": 0}, "merges": []}, "normalizer": {"type": "NFC"}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {}, "merges": null}, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}, "decoder": {"type": "Metaspace"}}`))
	f.Add([]byte(`{"model": {"type": "Unigram"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		tk, err := parseWith("tokenizer.json", data, "tokenizer_config.json", nil, true)
		slow, slowErr := parseWith("tokenizer.json", data, "tokenizer_config.json", nil, false)
		if (err == nil) != (slowErr == nil) {
			t.Fatalf("fast reader: %v; encoding/json: %v", err, slowErr)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, s := range []string{"hello world", " the <|eot|>  x\n\n", "é€😀", "<s>hi</s>"} {
			ids := tk.Encode(s, true)
			if !slices.Equal(ids, slow.Encode(s, true)) {
				t.Fatalf("fast and slow readers encode %q differently", s)
			}
			text := tk.Decode(ids, false)
			if !utf8.ValidString(text) {
				t.Fatalf("Decode gave invalid UTF-8 %q", text)
			}
			if got := streamAll(tk, ids, false); got != text {
				t.Fatalf("stream %q != decode %q", got, text)
			}
		}
	})
}

// FuzzByteLevelRoundTrip: byte-level tokenizers give back the text they
// encoded (Qwen 3 after NFC), and streaming agrees with Decode.
func FuzzByteLevelRoundTrip(f *testing.F) {
	for _, s := range []string{"Hello, world!", "  two  spaces ", "日本語", "😀🇫🇷", "a\u0301", "<|im_end|>x", "\r\n\t", "\xff\xfe"} {
		f.Add(s)
	}
	llama3 := loadNamed(f, "llama3")
	qwen3 := loadNamed(f, "qwen3")
	f.Fuzz(func(t *testing.T, s string) {
		valid := s
		if !utf8.ValidString(s) {
			valid = string(appendLossy(nil, []byte(s)))
		}
		ids := llama3.Encode(s, false)
		// Llama 3 asks for the clean-up of spaces on decode; compare without it.
		if got := llama3.decodeTokens(tokensOf(llama3, ids), chainOpts{atStart: true, final: true}); got != valid {
			t.Fatalf("llama3 round trip of %q gave %q (ids %v)", s, got, ids)
		}
		if got, want := streamAll(llama3, ids, false), llama3.Decode(ids, false); got != want {
			t.Fatalf("llama3 stream %q != decode %q", got, want)
		}
		ids = qwen3.Encode(s, false)
		if got, want := qwen3.Decode(ids, false), norm.NFC.String(valid); got != want {
			t.Fatalf("qwen3 round trip of %q gave %q (ids %v)", s, got, ids)
		}
		if got, want := streamAll(qwen3, ids, true), qwen3.Decode(ids, true); got != want {
			t.Fatalf("qwen3 stream %q != decode %q", got, want)
		}
	})
}

func tokensOf(tk *Tokenizer, ids []int32) []string {
	var out []string
	for _, id := range ids {
		if tok, ok := tk.tokenFor(id, false); ok {
			out = append(out, tok)
		}
	}
	return out
}

// FuzzStreamDecode decodes arbitrary id sequences (byte tokens, specials,
// unknown ids) with every real tokenizer: streamed pieces are valid UTF-8 and
// add up to Decode.
func FuzzStreamDecode(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 3, 1, 0, 0})
	f.Add([]byte{0xE6, 0, 0, 0, 0x97, 0, 0, 0, 0xA5, 0, 0, 0})
	var tks []*Tokenizer
	for _, name := range tokenizerNames {
		tks = append(tks, loadNamed(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tk := range tks {
			var ids []int32
			for i := 0; i+4 <= len(data) && len(ids) < 256; i += 4 {
				v := binary.LittleEndian.Uint32(data[i:])
				// Mostly small ids (bytes, specials), some anywhere in the vocabulary.
				if v&1 == 0 {
					ids = append(ids, int32(v>>1)%300)
				} else {
					ids = append(ids, int32(v>>1)%int32(tk.VocabSize()+10))
				}
			}
			for _, skip := range []bool{false, true} {
				sd := tk.NewStreamDecoder(skip)
				var got []byte
				for _, id := range ids {
					piece := sd.Add(id)
					if !utf8.ValidString(piece) {
						t.Fatalf("stream piece %q is not valid UTF-8", piece)
					}
					got = append(got, piece...)
				}
				got = append(got, sd.Flush()...)
				if want := tk.Decode(ids, skip); string(got) != want {
					t.Fatalf("ids %v skip=%v: stream %q != decode %q", ids, skip, got, want)
				}
			}
		}
	})
}

// Package tokenizer encodes text to token ids and decodes them back exactly as
// Hugging Face tokenizers does, from a model's tokenizer.json and
// tokenizer_config.json.
//
// Supported: BPE models, byte-level (GPT-2, Llama 3, Qwen) and SentencePiece
// style (Llama 2, Gemma: "▁", byte fallback <0xNN>); normalizers, pre-tokenizers,
// post-processors and decoders those models use; added and special tokens
// matched before the model; a streaming decoder for generation.
//
// Encoding runs: added tokens are split out of the raw text, each remaining
// segment is normalized (then normalized added tokens split out), pre-tokenized
// into words, and each word is merged by BPE (cached). Decoding runs the
// tokenizer's decoder chain and, when tokenizer_config.json asks for it, the
// transformers clean-up of spaces before punctuation.
package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Tokenizer is safe for concurrent use.
type Tokenizer struct {
	model        *bpeModel
	idToToken    []string // model vocab and added tokens by id; "" where unused
	hasToken     []bool
	added        *addedVocab
	specialIDs   map[int32]bool
	normalizer   normalizer
	preTokenizer preTokenizer
	decoder      decoderStep
	post         postProcessor

	cleanup  bool
	bosToken string
	eosToken string

	stream streamPlan
}

// Encode turns text into ids. With addSpecial the post-processor's special
// tokens (e.g. BOS) are added as the model expects for a fresh sequence.
// Special tokens written in the text itself are always recognized.
//
// Text that is not valid UTF-8 has each invalid sequence read as U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	if !utf8.ValidString(text) {
		text = string(appendLossy(nil, []byte(text)))
	}
	ids := make([]int32, 0, len(text)/3+4)
	ids = t.encodeInto(ids, text)
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

func (t *Tokenizer) encodeInto(ids []int32, text string) []int32 {
	for _, seg := range t.added.split(text, false) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		norm := seg.text
		if t.normalizer != nil {
			norm = t.normalizer.normalize(norm)
		}
		for _, sub := range t.added.split(norm, true) {
			if sub.id >= 0 {
				ids = append(ids, sub.id)
				continue
			}
			ids = t.encodeNormalized(ids, sub.text, seg.start == 0 && sub.start == 0)
		}
	}
	return ids
}

// encodeNormalized pre-tokenizes one normalized segment and runs BPE on each word.
// atStart says whether the segment begins the original text (Metaspace "first").
func (t *Tokenizer) encodeNormalized(ids []int32, s string, atStart bool) []int32 {
	if s == "" {
		return ids
	}
	if t.preTokenizer == nil {
		return t.model.encodeWord(ids, s, false)
	}
	words := t.preTokenizer.split([]word{{text: s, atStart: atStart}})
	for _, w := range words {
		ids = t.model.encodeWord(ids, w.text, w.raw)
	}
	return ids
}

// Decode turns ids into text. skipSpecial drops special tokens (BOS, EOS,
// <|im_end|> ...). Unknown ids are ignored.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.tokenFor(id, skipSpecial)
		if ok {
			toks = append(toks, tok)
		}
	}
	text := t.decodeTokens(toks, chainOpts{atStart: true, final: true})
	if t.cleanup {
		text = cleanUpSpaces(text)
	}
	return text
}

// tokenFor is the token string of id, false when id is unknown or skipped.
func (t *Tokenizer) tokenFor(id int32, skipSpecial bool) (string, bool) {
	if id < 0 || int(id) >= len(t.idToToken) || !t.hasToken[id] {
		return "", false
	}
	if skipSpecial && t.specialIDs[id] {
		return "", false
	}
	return t.idToToken[id], true
}

func (t *Tokenizer) decodeTokens(toks []string, o chainOpts) string {
	if t.decoder == nil {
		return strings.Join(toks, " ")
	}
	out, _ := t.decoder.decodeChain(toks, &o)
	return strings.Join(out, "")
}

// TokenID is the id of a token string (model vocab or added token).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return id, ok
}

// Token is the string of an id ("" and false when unknown).
func (t *Tokenizer) Token(id int32) (string, bool) { return t.tokenFor(id, false) }

// VocabSize is one more than the largest id (model vocab plus added tokens).
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int32) bool { return t.specialIDs[id] }

// BOS is the beginning-of-sequence token from tokenizer_config.json.
func (t *Tokenizer) BOS() (string, int32, bool) { return t.namedToken(t.bosToken) }

// EOS is the end-of-sequence token from tokenizer_config.json.
func (t *Tokenizer) EOS() (string, int32, bool) { return t.namedToken(t.eosToken) }

func (t *Tokenizer) namedToken(s string) (string, int32, bool) {
	if s == "" {
		return "", -1, false
	}
	id, ok := t.TokenID(s)
	if !ok {
		return s, -1, false
	}
	return s, id, true
}

// endOfTurnTokens are the tokens chat models emit to end their turn or the text.
var endOfTurnTokens = []string{
	"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>", "<|endoftext|>", "</s>",
	"<|end|>", "<|eom_id|>", "<eos>",
}

// SpecialEOSIDs are the ids that end generation: the eos_token plus the known
// end-of-turn tokens present as special added tokens, sorted and unique.
func (t *Tokenizer) SpecialEOSIDs() []int32 {
	seen := map[int32]bool{}
	var out []int32
	add := func(id int32) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if id, ok := t.TokenID(t.eosToken); ok && t.eosToken != "" {
		add(id)
	}
	// Only special added tokens count: Qwen's and Gemma's vocabularies also
	// hold "</s>" as ordinary text.
	for _, s := range endOfTurnTokens {
		if id, ok := t.added.byContent[s]; ok && t.specialIDs[id] {
			add(id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// buildModel builds the BPE model from the decoded "model" object.
func (t *Tokenizer) buildModel(l *loader, rm *rawModel, merges mergeSource) error {
	if rm.Type == "" && rm.Merges != nil {
		rm.Type = "BPE"
	}
	if rm.Type != "BPE" {
		return l.errf("model.type", "unsupported model %q: impetus reads BPE tokenizers (byte-level or SentencePiece style)", rm.Type)
	}
	if rm.Vocab == nil {
		return l.errf("model.vocab", "missing: a BPE model needs a vocab object")
	}
	if rm.Dropout != nil && *rm.Dropout > 0 {
		return l.errf("model.dropout", "BPE dropout %v is a training setting; inference needs null or 0", *rm.Dropout)
	}
	bm, err := newBPE(l, rm, merges)
	if err != nil {
		return err
	}
	t.model = bm
	size := 0
	for _, id := range bm.vocab {
		if int(id) >= size {
			size = int(id) + 1
		}
	}
	t.idToToken = make([]string, size)
	t.hasToken = make([]bool, size)
	for tok, id := range bm.vocab {
		t.idToToken[id] = tok
		t.hasToken[id] = true
	}
	return nil
}

// buildAdded registers the added tokens, which may extend the vocabulary.
func (t *Tokenizer) buildAdded(l *loader, toks []rawAddedToken) error {
	av := &addedVocab{byContent: map[string]int32{}}
	for i, rt := range toks {
		field := fmt.Sprintf("added_tokens[%d]", i)
		if rt.ID == nil {
			return l.errf(field+".id", "missing")
		}
		if *rt.ID < 0 || *rt.ID > 1<<30 {
			return l.errf(field+".id", "id %d out of range", *rt.ID)
		}
		if rt.Content == "" {
			return l.errf(field+".content", "empty token")
		}
		id := int32(*rt.ID)
		normalized := !rt.Special // Hugging Face's default when the field is absent
		if rt.Normalized != nil {
			normalized = *rt.Normalized
		}
		av.tokens = append(av.tokens, addedToken{
			id: id, content: rt.Content, singleWord: rt.SingleWord,
			lstrip: rt.LStrip, rstrip: rt.RStrip, normalized: normalized, special: rt.Special,
		})
		av.byContent[rt.Content] = id
		for int(id) >= len(t.idToToken) {
			t.idToToken = append(t.idToToken, "")
			t.hasToken = append(t.hasToken, false)
		}
		t.idToToken[id] = rt.Content
		t.hasToken[id] = true
		if rt.Special {
			t.specialIDs[id] = true
		}
	}
	t.added = av
	return nil
}

// applyConfig reads tokenizer_config.json settings: BOS/EOS names, clean-up of
// spaces on decode, and add_bos_token/add_eos_token where transformers lets them
// override the post-processor (Llama and Gemma tokenizer classes).
func (t *Tokenizer) applyConfig(l *loader, cfg *rawConfig, post postProcessor) error {
	var err error
	if t.bosToken, err = l.specialToken("bos_token", cfg.BOSToken); err != nil {
		return err
	}
	if t.eosToken, err = l.specialToken("eos_token", cfg.EOSToken); err != nil {
		return err
	}
	t.cleanup = cfg.CleanUpTokenizationSpaces != nil && *cfg.CleanUpTokenizationSpaces
	t.post = post
	if (cfg.AddBOSToken != nil || cfg.AddEOSToken != nil) && rebuildsPostProcessor(cfg.TokenizerClass) {
		addBOS := cfg.AddBOSToken != nil && *cfg.AddBOSToken
		addEOS := cfg.AddEOSToken != nil && *cfg.AddEOSToken
		var tp templateProcessor
		if addBOS {
			id, ok := t.TokenID(t.bosToken)
			if !ok {
				return l.errf("bos_token", "add_bos_token is true but bos_token %q is not in the vocabulary", t.bosToken)
			}
			tp.before = []int32{id}
		}
		if addEOS {
			id, ok := t.TokenID(t.eosToken)
			if !ok {
				return l.errf("eos_token", "add_eos_token is true but eos_token %q is not in the vocabulary", t.eosToken)
			}
			tp.after = []int32{id}
		}
		t.post = &tp
	}
	return nil
}

// rebuildsPostProcessor lists the transformers tokenizer classes whose
// constructor rebuilds the post-processor from add_bos_token/add_eos_token.
func rebuildsPostProcessor(class string) bool {
	switch strings.TrimSuffix(class, "Fast") {
	case "LlamaTokenizer", "GemmaTokenizer", "CodeLlamaTokenizer", "CohereTokenizer":
		return true
	}
	return false
}

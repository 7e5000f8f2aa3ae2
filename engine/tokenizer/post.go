package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds the special tokens of a single sequence (addSpecial).
type postProcessor interface {
	process(ids []int32) []int32
}

// templateProcessor wraps the sequence in fixed special ids.
type templateProcessor struct{ before, after []int32 }

func (p *templateProcessor) process(ids []int32) []int32 {
	if len(p.before) == 0 && len(p.after) == 0 {
		return ids
	}
	out := make([]int32, 0, len(p.before)+len(ids)+len(p.after))
	out = append(out, p.before...)
	out = append(out, ids...)
	return append(out, p.after...)
}

type seqPostProcessor []postProcessor

func (q seqPostProcessor) process(ids []int32) []int32 {
	for _, p := range q {
		ids = p.process(ids)
	}
	return ids
}

func (l *loader) postProcessor(field string, m json.RawMessage, t *Tokenizer) (postProcessor, error) {
	if isNull(m) {
		return nil, nil
	}
	typ, err := l.componentType(field, m)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		steps, err := sequence(l, field, "processors", m, func(f string, sub json.RawMessage) (postProcessor, error) {
			return l.postProcessor(f, sub, t)
		})
		return seqPostProcessor(steps), err
	case "ByteLevel":
		return nil, nil // only adjusts offsets
	case "TemplateProcessing":
		return l.template(field, m)
	case "BertProcessing", "RobertaProcessing":
		var v struct {
			Sep []json.RawMessage `json:"sep"`
			Cls []json.RawMessage `json:"cls"`
		}
		if err := l.decode(field, m, &v); err != nil {
			return nil, err
		}
		cls, err := l.tokenPair(field+".cls", v.Cls)
		if err != nil {
			return nil, err
		}
		sep, err := l.tokenPair(field+".sep", v.Sep)
		if err != nil {
			return nil, err
		}
		return &templateProcessor{before: []int32{cls}, after: []int32{sep}}, nil
	}
	return nil, l.errf(field+".type", "unsupported post-processor %q (supported: TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing)", typ)
}

// tokenPair reads ["[CLS]", 101].
func (l *loader) tokenPair(field string, pair []json.RawMessage) (int32, error) {
	if len(pair) != 2 {
		return 0, l.errf(field, "expected [token, id]")
	}
	var id int64
	if err := json.Unmarshal(pair[1], &id); err != nil || id < 0 || id > 1<<30 {
		return 0, l.errf(field, "expected [token, id] with a non-negative integer id")
	}
	return int32(id), nil
}

func (l *loader) template(field string, m json.RawMessage) (postProcessor, error) {
	var v struct {
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int64 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := l.decode(field, m, &v); err != nil {
		return nil, err
	}
	var tp templateProcessor
	seen := false
	for i, p := range v.Single {
		pf := fmt.Sprintf("%s.single[%d]", field, i)
		switch {
		case p.Sequence != nil:
			if seen {
				return nil, l.errf(pf, "the single template holds its sequence twice")
			}
			seen = true
		case p.SpecialToken != nil:
			st, ok := v.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return nil, l.errf(pf, "special token %q is missing from %s.special_tokens", p.SpecialToken.ID, field)
			}
			for _, id := range st.IDs {
				if id < 0 || id > 1<<30 {
					return nil, l.errf(field+".special_tokens", "id %d out of range", id)
				}
				if seen {
					tp.after = append(tp.after, int32(id))
				} else {
					tp.before = append(tp.before, int32(id))
				}
			}
		default:
			return nil, l.errf(pf, "expected a SpecialToken or a Sequence")
		}
	}
	if !seen {
		return nil, l.errf(field+".single", "the template has no Sequence")
	}
	return &tp, nil
}

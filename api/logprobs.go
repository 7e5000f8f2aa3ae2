package api

import "github.com/impetus-llm/impetus/engine"

// Chat completions' logprobs: {"content": [{token, logprob, bytes, top_logprobs}]}.
type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatTokenLogprob struct {
	chatTopLogprob
	TopLogprobs []chatTopLogprob `json:"top_logprobs"`
}

type chatTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

func topOf(lp engine.TokenLogprob) chatTopLogprob {
	b := make([]int, len(lp.Text))
	for i := 0; i < len(lp.Text); i++ {
		b[i] = int(lp.Text[i])
	}
	return chatTopLogprob{Token: lp.Text, Logprob: lp.Logprob, Bytes: b}
}

func chatLogprobsOf(lps []engine.TokenLogprob) *chatLogprobs {
	out := &chatLogprobs{Content: make([]chatTokenLogprob, 0, len(lps))}
	for _, lp := range lps {
		e := chatTokenLogprob{chatTopLogprob: topOf(lp), TopLogprobs: make([]chatTopLogprob, 0, len(lp.Top))}
		for _, t := range lp.Top {
			e.TopLogprobs = append(e.TopLogprobs, topOf(t))
		}
		out.Content = append(out.Content, e)
	}
	return out
}

// Legacy completions' logprobs: parallel arrays, offsets into the text.
type textLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// textLogprobsOf describes lps, whose text starts at byte offset start.
func textLogprobsOf(lps []engine.TokenLogprob, start int) *textLogprobs {
	out := &textLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	off := start
	for _, lp := range lps {
		out.Tokens = append(out.Tokens, lp.Text)
		out.TokenLogprobs = append(out.TokenLogprobs, lp.Logprob)
		top := make(map[string]float32, len(lp.Top))
		for _, t := range lp.Top {
			top[t.Text] = t.Logprob
		}
		out.TopLogprobs = append(out.TopLogprobs, top)
		out.TextOffset = append(out.TextOffset, off)
		off += len(lp.Text)
	}
	return out
}

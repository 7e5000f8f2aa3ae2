package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// scannerAlphabet mixes every character class the split patterns distinguish.
var scannerAlphabet = []string{
	"a", "b", "Z", "é", "ж", "日", "本", "1", "7", "٣", "Ⅷ", "½", " ", " ", " ", "\t", "\n", "\r", "\u00a0",
	"\u3000", "'", "'s", "'S", "'re", "'LL", "'ve", "'d", "'m", "'t", ".", ",", "!", "?", "-", "_", "😀",
	"\u0301", "\u200d", "$", "\v", "\f", "\u2028",
}

func randomText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(scannerAlphabet[r.IntN(len(scannerAlphabet))])
	}
	return sb.String()
}

// TestScannerMatchesRegex checks the hand-written scanners against regexp2
// running the very patterns they replace, on random and tricky texts.
func TestScannerMatchesRegex(t *testing.T) {
	texts := []string{
		"", "Hello, world!", "  two  spaces  between  ", "x \n\n  y", "a  \n b", "\r\n\r\n  x", "   ",
		"I'm sure you're right; we'll see, they've said, he'd go.", "DON'T SHOUT, I'LL LISTEN",
		"1234567 12 1", "'hello", " 'hello", "!!!??? ... --- ***", "\u00a0non-breaking\u00a0space",
		"def add(a, b):\n    return a + b\n", "tab\t\tx", " ", "\n", "a\u0301 combining",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		texts = append(texts, randomText(r, 1+r.IntN(24)))
	}
	for _, pat := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		sc := knownScanner(pat)
		if sc == nil {
			t.Fatalf("no scanner for %q", pat)
		}
		re := regexPattern{regexp2.MustCompile(pat, regexp2.None)}
		for _, s := range texts {
			got, want := sc.findAll(s), re.findAll(s)
			if !slices.Equal(got, want) {
				t.Fatalf("pattern %q on %q:\n scanner %v\n regexp2 %v", pat, s, pieces(s, got), pieces(s, want))
			}
		}
	}
}

func pieces(s string, m [][2]int) []string {
	var out []string
	for _, p := range m {
		out = append(out, s[p[0]:p[1]])
	}
	return out
}

// BenchmarkSplit compares the Llama 3 scanner with regexp2 running the same
// pattern (the general fallback) on 1 MiB of English prose.
func BenchmarkSplit(b *testing.B) {
	text := englishText(1 << 20)
	for _, c := range []struct {
		name string
		pat  pattern
	}{
		{"scanner", knownScanner(llama3Pattern)},
		{"regexp2", regexPattern{regexp2.MustCompile(llama3Pattern, regexp2.None)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				c.pat.findAll(text)
			}
		})
	}
}

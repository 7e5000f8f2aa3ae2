package tokenizer

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

var benchWords = strings.Fields(`the of and to a in is that it was for on are as with his they at be this
from have or by one had not but what all were when we there can an your which their said if do will each
about how up out them then she many some so these would other into has more her two like him see time could
no make than first been its who now people my made over did down only way find use may water long little
very after words called just where most know get through back much before go good new write our used me man
too any day same right look think also around another came come work three word must because does part even
place well such here take why things help put years different away again off went old number great tell men
say small every found still between name should home big give air line set own under read last never us
left end along while might next sound below saw something thought both few those always looked show large
often together asked house don't world going want school important until form food keep children feet land
side without boy once animals life enough took sometimes four head above kind began almost live page got
earth need far hand high year mother light parts country father let night following picture being study
second eyes soon times story boys since white days paper hard near sentence better best across during today
others however sure means knew it's try told young miles sun ways thing whole hear example heard several
change answer room sea against top turned learn point city play toward five using himself usually money
seen didn't car morning I'm body upon family later turn move face door cut done group true leave color
Government University Tuesday September Mississippi Cambridge electricity international responsibility`)

// englishText builds n bytes of pseudo-English prose: sentences, punctuation,
// numbers, capitals and paragraph breaks, from a fixed seed.
func englishText(n int) string {
	r := rand.New(rand.NewPCG(7, 11))
	var sb strings.Builder
	sb.Grow(n + 100)
	for sb.Len() < n {
		words := 6 + r.IntN(14)
		for i := 0; i < words; i++ {
			w := benchWords[r.IntN(len(benchWords))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				sb.WriteByte(' ')
			}
			switch r.IntN(40) {
			case 0:
				w = "\"" + w + "\""
			case 1:
				w += ","
			case 2:
				w = "(" + w + ")"
			case 3:
				w = []string{"1984", "42", "3.14", "2024", "100,000"}[r.IntN(5)]
			}
			sb.WriteString(w)
		}
		sb.WriteString([]string{". ", "? ", "! ", ".\n\n", "; ", ". "}[r.IntN(6)])
	}
	return sb.String()[:n]
}

func benchmarkEncode(b *testing.B, name string, cached bool) {
	dir := filepath.Join(sharedtestdata.Dir(b), "tokenizers", name)
	tk, err := Load(dir) // a fresh instance: the cache starts empty
	if err != nil {
		b.Fatal(err)
	}
	if !cached {
		tk.model.cache.init(0)
	}
	text := englishText(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		n = len(tk.Encode(text, false))
	}
	b.ReportMetric(float64(n), "tokens")
}

// BenchmarkEncode1MB encodes 1 MiB of English prose; the uncached runs are the
// reference that shows what the BPE merge cache buys.
func BenchmarkEncode1MB(b *testing.B) {
	for _, name := range tokenizerNames {
		b.Run(name+"/cached", func(b *testing.B) { benchmarkEncode(b, name, true) })
		b.Run(name+"/uncached", func(b *testing.B) { benchmarkEncode(b, name, false) })
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"llama2", "llama3"} {
		b.Run(name, func(b *testing.B) {
			tk := loadNamed(b, name)
			text := englishText(1 << 16)
			ids := tk.Encode(text, false)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tk.Decode(ids, false)
			}
		})
		b.Run(name+"/stream", func(b *testing.B) {
			tk := loadNamed(b, name)
			text := englishText(1 << 16)
			ids := tk.Encode(text, false)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sd := tk.NewStreamDecoder(false)
				for _, id := range ids {
					sd.Add(id)
				}
				sd.Flush()
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, name := range tokenizerNames {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join(sharedtestdata.Dir(b), "tokenizers", name)
			for i := 0; i < b.N; i++ {
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package rank

import (
	"context"
	"hash/fnv"

	"github.com/parley-chat/parley"
)

// HashingDims is the length of a Hashing vector.
const HashingDims = 256

// Hashing is the embedder that runs with no model: the feature-hashing
// trick over each word's stem and the character trigrams of the stem
// (with its boundaries: "^ru", "run", "un$"), each feature adding ±1 to one
// of HashingDims coordinates (a word's trigrams share one word's weight).
// Two texts are alike as far as they share words, or words' parts: it
// finds "paintings" for "painter" and "bookshelf" for "book shelf", which
// whole-word matching misses, and nothing a model would call a synonym.
type Hashing struct{}

// Model names Hashing's vectors.
func (Hashing) Model() string { return "parley-hashing-256" }

// Embed returns each text's vector, of unit length (zero for a text with
// no words).
func (Hashing) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = HashVector(t)
	}
	return out, nil
}

// HashVector is Hashing's vector of one text.
func HashVector(text string) []float32 {
	v := make([]float32, HashingDims)
	add := func(feature string, w float32) {
		h := fnv.New64a()
		h.Write([]byte(feature))
		x := h.Sum64()
		if x>>63 == 1 {
			w = -w
		}
		v[x%HashingDims] += w
	}
	for _, w := range parley.Words(text) {
		stem := parley.Stem(w)
		add("w:"+stem, 1)
		grams := []rune("^" + stem + "$")
		if len(grams) < 3 {
			continue
		}
		n := float32(len(grams) - 2)
		for j := 0; j+3 <= len(grams); j++ {
			add("g:"+string(grams[j:j+3]), 1/n)
		}
	}
	return parley.Normalize(v)
}

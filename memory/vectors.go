package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-chat/parley"
)

// ErrEmbed is an embedder's failure (an endpoint that does not answer, or
// answers wrong): what is to be embedded can be tried again.
var ErrEmbed = errors.New("embeddings failed")

// Embed sets each fact's vector: its text's embedding by e, of unit
// length. A nil e leaves them without.
func Embed(ctx context.Context, e parley.Embedder, facts []parley.Fact) error {
	if e == nil || len(facts) == 0 {
		return nil
	}
	texts := make([]string, len(facts))
	for i, f := range facts {
		texts[i] = f.Text
	}
	vs, err := e.Embed(ctx, texts)
	if err != nil {
		return fmt.Errorf("memory: %w: %w", ErrEmbed, err)
	}
	if len(vs) != len(facts) {
		return fmt.Errorf("memory: %w: %d vectors for %d texts", ErrEmbed, len(vs), len(facts))
	}
	for i := range facts {
		if len(vs[i]) > parley.MaxVectorDims {
			return fmt.Errorf("memory: %w: a vector of %d dimensions (at most %d)", ErrEmbed, len(vs[i]), parley.MaxVectorDims)
		}
		facts[i].Vector = parley.Vector{Model: e.Model(), Values: parley.Normalize(vs[i])}
	}
	return nil
}

// minCosine is the least cosine between a query's vector and a memory's
// for the memory to rank by it: below it, vectors of texts that share a
// word or two by chance fill the list and push better messages out (on
// LoCoMo with the hashing vectors, 0.2 took recall@10 below the words
// alone's; from 0.35 on, no change). Models' embeddings of unrelated texts
// mostly fall below it too.
const minCosine = 0.35

// nearest ranks the memories whose vectors are of model by their cosine
// with q, best first, keeping those of at least minCosine, at most n.
func nearest(ms []parley.Memory, model string, q []float32, n int) []parley.Memory {
	type scored struct {
		m   parley.Memory
		cos float64
	}
	var found []scored
	for _, m := range ms {
		if m.Vector.Model != model {
			continue
		}
		if c := parley.Cosine(q, m.Vector.Values); c >= minCosine {
			found = append(found, scored{m, c})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return cmp.Compare(b.cos, a.cos) })
	out := make([]parley.Memory, 0, min(n, len(found)))
	for _, s := range found[:min(n, len(found))] {
		out = append(out, s.m)
	}
	return out
}

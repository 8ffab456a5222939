package parley

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
)

// An Embedder turns texts into vectors whose cosine says how alike the
// texts are: an OpenAI-compatible /embeddings endpoint when one is
// configured, else a hashing of the texts' words that runs with no model.
// Model names the space of its vectors: vectors of two models are never
// compared.
type Embedder interface {
	Model() string
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Vector is a text's embedding, of unit length, and the model it is of.
type Vector struct {
	Model  string
	Values []float32
}

// MaxVectorDims bounds a stored vector (OpenAI's largest model has 3,072).
const MaxVectorDims = 4096

// Cosine is the cosine of two vectors of the same model (both of unit
// length, as Normalize leaves them): 0 when either is empty or their
// lengths differ.
func Cosine(a, b []float32) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot
}

// Normalize scales v to unit length in place (a zero vector stays zero)
// and returns it.
func Normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return v
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return v
}

// Bytes is how both stores keep a vector's values: little-endian float32s.
func (v Vector) Bytes() []byte {
	b := make([]byte, 4*len(v.Values))
	for i, x := range v.Values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// DecodeVector reads what Bytes wrote.
func DecodeVector(model string, b []byte) (Vector, error) {
	if len(b)%4 != 0 || len(b) > 4*MaxVectorDims {
		return Vector{}, fmt.Errorf("a vector of %d bytes", len(b))
	}
	v := Vector{Model: model}
	if len(b) > 0 {
		v.Values = make([]float32, len(b)/4)
	}
	for i := range v.Values {
		v.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

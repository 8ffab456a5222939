package llm

import (
	"context"
	"fmt"

	"github.com/openai/openai-go/v3"

	"github.com/parley-chat/parley"
)

// Embeddings is a parley.Embedder on an OpenAI-compatible /embeddings
// endpoint (OpenAI, vLLM, llama.cpp server, Ollama and the like), through
// the official SDK; the config's Model is the embedding model.
type Embeddings struct {
	svc   openai.EmbeddingService
	model string
}

// NewEmbeddings returns an embedder for the endpoint's model.
func NewEmbeddings(cfg OpenAIConfig) *Embeddings {
	return &Embeddings{svc: openai.NewEmbeddingService(cfg.options()...), model: cfg.Model}
}

// Model is the embedding model's name.
func (e *Embeddings) Model() string { return e.model }

// Embed asks for the texts' vectors in one request.
func (e *Embeddings) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	res, err := e.svc.New(ctx, openai.EmbeddingNewParams{Model: e.model,
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat})
	if err != nil {
		return nil, fmt.Errorf("llm: embeddings: %w", err)
	}
	out := make([][]float32, len(texts))
	for _, d := range res.Data {
		if d.Index < 0 || int(d.Index) >= len(texts) || out[d.Index] != nil {
			return nil, fmt.Errorf("llm: embeddings: an answer for input %d of %d", d.Index, len(texts))
		}
		if len(d.Embedding) == 0 || len(d.Embedding) > parley.MaxVectorDims {
			return nil, fmt.Errorf("llm: embeddings: a vector of %d dimensions", len(d.Embedding))
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	for i, v := range out {
		if v == nil {
			return nil, fmt.Errorf("llm: embeddings: no vector for input %d of %d", i, len(texts))
		}
	}
	return out, nil
}

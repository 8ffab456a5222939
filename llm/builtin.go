package llm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Builtin is the offline responder used when no model endpoint is
// configured. No language model ships with Parley, so it does not pretend to
// be one: it answers deterministically, in the conversation's language, from
// what the context gives it (the bot's name, what the user just said, the
// earlier messages retrieval found relevant, and the user's key-value
// context). Every reply says it is an offline reply, and its metadata names
// this provider. It keeps every feature usable without a network.
type Builtin struct{}

// Name is "builtin".
func (Builtin) Name() string { return "builtin" }

// phrases of the built-in responder per language (ISO 639-1).
type phrases struct {
	offline, youWrote, earlier, known, sending string
}

var builtinPhrases = map[string]phrases{
	"en": {"Offline reply from %s (no language model is configured).", "You wrote: “%s”.", "Earlier you mentioned: “%s”.", "What I know about you: %s.", "Here it is: %s."},
	"es": {"Respuesta sin conexión de %s (no hay ningún modelo de lenguaje configurado).", "Escribiste: “%s”.", "Antes mencionaste: “%s”.", "Lo que sé de ti: %s.", "Aquí está: %s."},
	"fr": {"Réponse hors ligne de %s (aucun modèle de langage n’est configuré).", "Vous avez écrit : « %s ».", "Vous aviez mentionné : « %s ».", "Ce que je sais de vous : %s.", "La voici : %s."},
	"de": {"Offline-Antwort von %s (kein Sprachmodell konfiguriert).", "Du hast geschrieben: „%s“.", "Früher hast du erwähnt: „%s“.", "Was ich über dich weiß: %s.", "Hier ist es: %s."},
	"pt": {"Resposta offline de %s (nenhum modelo de linguagem configurado).", "Você escreveu: “%s”.", "Antes você mencionou: “%s”.", "O que sei sobre você: %s.", "Aqui está: %s."},
	"it": {"Risposta offline di %s (nessun modello linguistico configurato).", "Hai scritto: “%s”.", "Prima hai menzionato: “%s”.", "Quello che so di te: %s.", "Eccola: %s."},
}

// Complete composes the reply.
func (b Builtin) Complete(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := req.Hints
	lang := strings.ToLower(h.Language)
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	p, ok := builtinPhrases[lang]
	if !ok {
		p = builtinPhrases["en"]
	}
	name := h.BotName
	if name == "" {
		name = "the bot"
	}
	paras := []string{fmt.Sprintf(p.offline, name)}
	if t := clip(h.UserText, 300); t != "" {
		paras = append(paras, fmt.Sprintf(p.youWrote, t))
	}
	for _, r := range h.Retrieved {
		if r = clip(r, 200); r != "" && r != clip(h.UserText, 200) {
			paras = append(paras, fmt.Sprintf(p.earlier, r))
			break
		}
	}
	if len(h.KV) > 0 {
		keys := make([]string, 0, len(h.KV))
		for k := range h.KV {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, 0, len(keys))
		for _, k := range keys {
			pairs = append(pairs, fmt.Sprintf("%s: %v", k, h.KV[k]))
		}
		paras = append(paras, fmt.Sprintf(p.known, strings.Join(pairs, ", ")))
	}
	for _, m := range h.Media {
		paras = append(paras, fmt.Sprintf(p.sending, clip(m, 200)))
	}
	text := strings.Join(paras, "\n\n")
	if req.OnDelta != nil {
		for _, para := range paras {
			req.OnDelta(para + "\n\n")
		}
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(m.Content)/4 + 4
	}
	return &Response{Text: text, Provider: b.Name(), Model: "builtin", PromptTokens: prompt,
		CompletionTokens: len(text)/4 + 1, FinishReason: "stop", Latency: time.Since(start)}, nil
}

// clip shortens s to at most n runes on a word boundary.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}

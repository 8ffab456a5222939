package reply

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// EstimateTokens estimates how many tokens a model's tokenizer makes of s.
// No tokenizer ships with Parley (their vocabularies are downloads), so this
// is the documented rule of thumb of BPE tokenizers: about four bytes of
// English per token, and at least one token per word or per CJK character.
// Tests hold it within a factor of 1.5 of common tokenizers' counts on the
// sample texts.
func EstimateTokens(s string) int {
	return countText(s).tokens()
}

// textCount is what EstimateTokens counts in a text. Counts of texts
// joined with whitespace add up (plus the separators' bytes), so the
// estimate of a joined text needs no second pass over it.
type textCount struct{ bytes, words, wide int }

func (c textCount) tokens() int { return max((c.bytes+3)/4, c.words, c.wide) }

// add returns c with sign times o added.
func (c textCount) add(o textCount, sign int) textCount {
	return textCount{bytes: c.bytes + sign*o.bytes, words: c.words + sign*o.words, wide: c.wide + sign*o.wide}
}

// countText counts s in one pass, without allocating: it runs over every
// message of every history a reply reads.
func countText(s string) textCount {
	c := textCount{bytes: len(s)}
	inWord := false
	for i := 0; i < len(s); {
		var space bool
		if b := s[i]; b < utf8.RuneSelf { // ASCII, most of most texts: a table look-up
			space = asciiSpace[b]
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			if r >= 0x2E80 { // CJK and beyond: a token or more per character
				c.wide++
			}
			space = r == 0x85 || r == 0xA0 || (r > 0xFF && unicode.IsSpace(r))
		}
		if !space && !inWord {
			c.words++
		}
		inWord = !space
	}
	return c
}

// asciiSpace holds the ASCII characters unicode.IsSpace reports.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// messageOverhead is what chat formats add per message (role markers).
const messageOverhead = 4

// maxBubble is the longest bubble: chat platforms cut or refuse longer ones.
const maxBubble = 1000

// SplitBubbles splits a reply into the bubbles chat platforms show:
// paragraphs (blank-line separated), with paragraphs longer than maxBubble
// cut at sentence ends, or at spaces when a sentence is too long itself.
func SplitBubbles(text string) []string {
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		para = strings.TrimSpace(para)
		for para != "" {
			if utf8.RuneCountInString(para) <= maxBubble {
				out = append(out, para)
				break
			}
			cut := cutPoint(para, maxBubble)
			out = append(out, strings.TrimSpace(para[:cut]))
			para = strings.TrimSpace(para[cut:])
		}
	}
	return out
}

// cutPoint returns a byte offset within the first n runes of s: after the
// last sentence end, else the last space, else n runes.
func cutPoint(s string, n int) int {
	limit := len(s)
	for i := range s {
		if n == 0 {
			limit = i
			break
		}
		n--
	}
	head := s[:limit]
	best := -1
	for _, end := range []string{". ", "! ", "? ", "。", "\n"} {
		if i := strings.LastIndex(head, end); i >= 0 && i+len(end) > best {
			best = i + len(end)
		}
	}
	if best > limit/2 {
		return best
	}
	if i := strings.LastIndexByte(head, ' '); i > limit/2 {
		return i + 1
	}
	return limit
}

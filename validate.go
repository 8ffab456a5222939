package parley

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validation of what clients send, on the domain's own limits (Max*). Each
// check returns an *Error (EINVALID) naming the field at fault, a JSON path
// such as "body.user_id", so that every entry point reports it the same way.

// IDAlphabet is what client-chosen ids (bots, users, V1 conversation ids,
// tenant names) are made of: ASCII letters and digits and - _ . : @ + =,
// enough for platform ids ("user-789", "+34600111222", "@ana:matrix.org",
// "U024BE7LH"). Ids end up in URLs, logs and file names, so no slash, no
// space, no "..", and no leading dot.
const IDAlphabet = "A-Z a-z 0-9 - _ . : @ + ="

// ValidID checks a client-chosen id: 1 to MaxIDLen characters of
// IDAlphabet, not starting with a dot, with no "..".
func ValidID(id, field string) error {
	if id == "" {
		return FieldError(EINVALID, field, "an id is required")
	}
	if len(id) > MaxIDLen {
		return FieldError(EINVALID, field, "expected at most %d characters, got %d", MaxIDLen, utf8.RuneCountInString(id))
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return FieldError(EINVALID, field, "ids are made of %s; found %q", IDAlphabet, firstRune(id[i:]))
		}
	}
	if id[0] == '.' || strings.Contains(id, "..") {
		return FieldError(EINVALID, field, "an id may not start with a dot or contain \"..\"")
	}
	return nil
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.:@+=", c) >= 0
}

func firstRune(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	return string(r)
}

// ValidText checks a message text (or bubble): at most MaxTextLen bytes of
// UTF-8. Invalid UTF-8 and lone surrogates in a JSON body have already been
// replaced by U+FFFD when it was decoded (as RFC 8259 lets a decoder do),
// so text is stored as decoded.
func ValidText(s, field string) error {
	if len(s) > MaxTextLen {
		return FieldError(EINVALID, field, "at most %d bytes of UTF-8, got %d", MaxTextLen, len(s))
	}
	if !utf8.ValidString(s) {
		return FieldError(EINVALID, field, "not valid UTF-8")
	}
	return nil
}

// ValidName checks a display name (of a token): printable text without
// surrounding spaces.
func ValidName(name, field string) error {
	if !utf8.ValidString(name) || strings.TrimSpace(name) != name || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return FieldError(EINVALID, field, "names are printable text without surrounding spaces")
	}
	return nil
}

// ValidURL checks an absolute http(s) URL (empty is none). Whether it may
// be fetched is the egress side's decision, made on the address dialled.
func ValidURL(s, field string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > MaxURLLen {
		return FieldError(EINVALID, field, "expected an absolute http or https URL")
	}
	return nil
}

// ValidKV checks a key-value context: at most MaxKVPairs entries of at most
// MaxKVBytes in all, each value a string, number, boolean or null.
func ValidKV(kv map[string]any, field string) error {
	if len(kv) > MaxKVPairs {
		return FieldError(EINVALID, field, "at most %d key-value pairs", MaxKVPairs)
	}
	size := 0
	for k, v := range kv {
		size += len(k)
		switch v := v.(type) {
		case string:
			size += len(v)
		case map[string]any, []any:
			return FieldError(EINVALID, field+"."+k, "values are strings, numbers, booleans or null")
		}
	}
	if size > MaxKVBytes {
		return FieldError(EINVALID, field, "key-value context larger than %d bytes", MaxKVBytes)
	}
	return nil
}

// FirstError returns the first error that is not nil.
func FirstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Complete checks a message a client sent and fills its defaults: the text
// as the only bubble, or the bubbles joined as the text. field is where the
// message is in the request (body.message); errors name its parts.
func (m *NewMessage) Complete(field string) error {
	for i, a := range m.AttachedMedia {
		at := fmt.Sprintf("%s.attached_media[%d]", field, i)
		m.AttachedMedia[i] = Media{URL: a.URL, MediaType: a.MediaType, ContentID: a.ContentID} // the rest is the server's
		if a.ContentID == "" && a.URL == "" {
			return FieldError(EINVALID, at, "an attachment needs a url or a content_id")
		}
		if err := ValidURL(a.URL, at+".url"); err != nil {
			return err
		}
	}
	if err := ValidText(m.Text, field+".text"); err != nil {
		return err
	}
	for i, b := range m.Bubbles {
		if err := ValidText(b, fmt.Sprintf("%s.bubbles[%d]", field, i)); err != nil {
			return err
		}
	}
	switch {
	case m.Text == "" && len(m.Bubbles) > 0:
		m.Text = strings.Join(m.Bubbles, "\n")
		if len(m.Text) > MaxTextLen {
			return FieldError(EINVALID, field+".bubbles", "bubbles longer than %d bytes together", MaxTextLen)
		}
	case len(m.Bubbles) == 0 && m.Text != "":
		m.Bubbles = []string{m.Text}
	}
	if strings.TrimSpace(m.Text) == "" && len(m.AttachedMedia) == 0 {
		return FieldError(EINVALID, field+".text", "a message needs text or attached media")
	}
	if len(m.Metadata) > 0 && string(m.Metadata) != "null" {
		if m.Metadata[0] != '{' {
			return FieldError(EINVALID, field+".metadata", "metadata must be a JSON object")
		}
	} else {
		m.Metadata = nil
	}
	return nil
}

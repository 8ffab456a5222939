package parley

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validation of what clients send, on the domain's own limits (Max*). Each
// check returns an *Error (EINVALID) naming the field at fault, a JSON path
// such as "body.user_id", so that every entry point reports it the same way.

// ValidID checks a client-chosen id: printable text without surrounding
// spaces, at most MaxIDLen characters.
func ValidID(id, field string) error {
	if !utf8.ValidString(id) || strings.TrimSpace(id) != id || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return FieldError(EINVALID, field, "ids are printable text without surrounding spaces")
	}
	if n := utf8.RuneCountInString(id); n > MaxIDLen {
		return FieldError(EINVALID, field, "expected at most %d characters, got %d", MaxIDLen, n)
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

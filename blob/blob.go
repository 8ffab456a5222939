// Package blob stores the content library's bytes behind one small
// interface, with two backends: a directory (the default, under the data
// directory) and any S3-compatible service (for replicas sharing
// PostgreSQL, which must share their blobs too). Keys are chosen by Parley
// (a tenant and a SHA-256), never by a client.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned for a key that holds nothing.
var ErrNotFound = errors.New("blob: not found")

// Store holds blobs by key. Put of a key that exists replaces it with the
// same bytes (keys name their content), so it may be redone safely.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, mediaType string) error
	// Open returns the blob and its size: ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Delete removes a blob; deleting what is not there is no error.
	Delete(ctx context.Context, key string) error
}

// CheckKey refuses keys that could leave a directory or confuse a
// service: segments of letters, digits, '-', '_' and '.', joined by '/',
// none empty or starting with a dot.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blob: bad key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg[0] == '.' {
			return fmt.Errorf("blob: bad key %q", key)
		}
		for _, r := range seg {
			if !(r == '-' || r == '_' || r == '.' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return fmt.Errorf("blob: bad key %q", key)
			}
		}
	}
	return nil
}

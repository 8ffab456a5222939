package blob_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/internal/s3test"
)

// TestStores runs one behaviour on both backends: a directory and a real
// S3-compatible server.
func TestStores(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) blob.Store{
		"dir": func(t *testing.T) blob.Store { return blob.Dir{Root: t.TempDir()} },
		"s3": func(t *testing.T) blob.Store {
			s, err := blob.NewS3(context.Background(), s3test.Start(t))
			require.NoError(t, err)
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			_, _, err := s.Open(ctx, "t1/abc")
			require.ErrorIs(t, err, blob.ErrNotFound)

			data := bytes.Repeat([]byte("parley"), 100_000) // 600 kB: more than one read
			require.NoError(t, s.Put(ctx, "t1/abc", bytes.NewReader(data), int64(len(data)), "image/png"))
			require.NoError(t, s.Put(ctx, "t1/abc", bytes.NewReader(data), int64(len(data)), "image/png"), "a put redone")
			r, size, err := s.Open(ctx, "t1/abc")
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			require.NoError(t, r.Close())
			require.Equal(t, int64(len(data)), size)
			require.Equal(t, data, got)

			require.Error(t, s.Put(ctx, "t1/short", strings.NewReader("abc"), 10, "text/plain"), "fewer bytes than said")
			for _, bad := range []string{"", "../x", "t1/../x", "/abs", "t1//x", "t1/.hidden", "t1/a b", "t1\\x"} {
				require.Error(t, s.Put(ctx, bad, strings.NewReader("x"), 1, "text/plain"), bad)
			}

			require.NoError(t, s.Delete(ctx, "t1/abc"))
			require.NoError(t, s.Delete(ctx, "t1/abc"), "deleting what is gone")
			_, _, err = s.Open(ctx, "t1/abc")
			require.ErrorIs(t, err, blob.ErrNotFound)
		})
	}
}

func TestNewS3Refuses(t *testing.T) {
	t.Parallel()
	_, err := blob.NewS3(context.Background(), blob.S3Options{Endpoint: "ftp://x", Bucket: "b"})
	require.Error(t, err)
	o := s3test.Start(t)
	o.Bucket = "missing"
	_, err = blob.NewS3(context.Background(), o)
	require.ErrorContains(t, err, "does not exist")
}

package httpapi_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMalformedChunkedBody: a chunked body that does not decode is the
// client's error (400 problem), not the server's.
func TestMalformedChunkedBody(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, b *testBundle) {
		send := func(chunks string) *http.Response {
			conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close() })
			_, err = conn.Write([]byte("POST /api/bots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b.admin +
				"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks))
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			return res
		}
		res := send("zz\r\n{}\r\n0\r\n\r\n")
		require.Equal(t, 400, res.StatusCode)
		require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))

		body := `{"id":"chunked-bot"}`
		res = send("5\r\n" + body[:5] + "\r\n" + "f\r\n" + body[5:] + "\r\n0\r\n\r\n")
		require.Equal(t, 201, res.StatusCode, "a well-formed chunked body is read")
	})
}

package egress

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"0.0.0.0", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false}, // AWS metadata over IPv6
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped IPv6
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"2002:7f00:1::", false},   // 6to4 of 127.0.0.1
		{"172.32.0.1", true},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, Allowed(netip.MustParseAddr(tc.ip)), tc.ip)
	}
}

// TestClientRefuses dials through the real client: names and numeric forms
// that end on loopback are refused at connect time, and redirects to
// loopback are not followed.
func TestClientRefuses(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("secret"))
	}))
	defer target.Close()
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	c := NewClient(Options{})
	for _, u := range []string{
		"http://127.0.0.1:" + port,
		"http://localhost:" + port,  // a name resolving to loopback
		"http://[::1]:" + port,      // IPv6 loopback
		"http://2130706433:" + port, // 127.0.0.1 in decimal
		"http://0x7f000001:" + port, // in hex
		"http://0177.0.0.1:" + port, // in octal
		"http://127.1:" + port,      // short form
		"http://[::ffff:127.0.0.1]:" + port,
	} {
		res, err := c.Get(u)
		if err == nil {
			res.Body.Close()
		}
		require.Error(t, err, u)
	}
	res, err := c.Get("http://127.0.0.1:" + port)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrForbidden), "%v", err)
	_ = res

	// Allowed when configured.
	open := NewClient(Options{AllowPrivate: true})
	res, err = open.Get(target.URL)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)

	// A redirect is returned, not followed, even when private is allowed.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer redirect.Close()
	res, err = open.Get(redirect.URL)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
}

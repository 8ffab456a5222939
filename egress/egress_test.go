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
		{"::127.0.0.1", false},     // IPv4-compatible
		{"::7f00:1", false},
		{"::a00:1", false},
		{"::ffff:0:7f00:1", false}, // IPv4-translated
		{"::ffff:0:a9fe:a9fe", false},
		{"2002:a9fe:a9fe::1", false},                    // 6to4 of the metadata address
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", false}, // Teredo, client 127.0.0.1
		{"2001:0:7f00:1:8000:63bf:f7f7:f7f7", false},    // Teredo, server 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", true},  // Teredo, both public
		{"64:ff9b::808:808", true},                      // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},                       // 6to4 of 8.8.8.8
		{"::8.8.8.8", true},                             // compatible form of a public address
		{"fec0::1", false},                              // site-local
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
		"http://[::127.0.0.1]:" + port,
		"http://[::ffff:0:7f00:1]:" + port,
		"http://[2002:7f00:1::]:" + port,
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

// TestClientRefusesIPv6Forms: the dialled address is checked, whatever
// IPv6 form of loopback the URL names.
func TestClientRefusesIPv6Forms(t *testing.T) {
	t.Parallel()
	c := NewClient(Options{})
	for _, host := range []string{"[::127.0.0.1]", "[::ffff:0:7f00:1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]"} {
		_, err := c.Get("http://" + host + ":9/")
		require.ErrorIs(t, err, ErrForbidden, host)
	}
}

// FuzzAllowed: an allowed IPv6 address carries no refused IPv4 address,
// and an IPv4-mapped address is judged as its IPv4 address.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"::127.0.0.1", "::ffff:0:7f00:1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
		"2001:0:4136:e378:8000:63bf:80ff:fffe", "8.8.8.8", "2606:4700:4700::1111", "fe80::1"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 16 {
			return
		}
		ip := netip.AddrFrom16([16]byte(raw))
		if Allowed(ip) {
			for _, v4 := range Embedded(ip) {
				require.True(t, Allowed(v4), "%s carries %s", ip, v4)
			}
		}
		if ip.Is4In6() {
			require.Equal(t, Allowed(ip.Unmap()), Allowed(ip), ip.String())
		}
	})
}

func TestLegacyIPv4(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"10.1.2": "10.1.0.2", "192.168.257": "192.168.1.1", "8.8.8.8": "8.8.8.8", "0": "0.0.0.0",
		"example.com": "", "1.2.3.4.5": "", "256.1.1.1": "", "4294967296": "", "1.2.0x10000": "", "": "", "0x": "", "1..2": "",
	} {
		ip, ok := LegacyIPv4(host)
		if want == "" {
			require.False(t, ok, host)
			continue
		}
		require.True(t, ok, host)
		require.Equal(t, want, ip.String(), host)
	}
}

func FuzzLegacyIPv4(f *testing.F) {
	for _, s := range []string{"127.1", "0x7f000001", "1.2.3.4", "0177.0.0.1", "a.b", "1...", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ip, ok := LegacyIPv4(host)
		if canonical, err := netip.ParseAddr(host); err == nil && canonical.Is4() {
			require.True(t, ok, host)
			require.Equal(t, canonical, ip, "a dotted quad reads as itself")
		}
		if ok {
			require.True(t, ip.Is4())
		}
	})
}

// Package egress makes the HTTP clients Parley uses for requests whose
// destination a tenant chooses (webhooks, media URLs, model endpoints set on
// a bot). By default they refuse loopback, private, link-local (cloud
// metadata), shared, multicast and reserved addresses. The check runs on the
// address actually dialled, after DNS resolution, so a name that resolves to
// a private address (or a DNS-rebinding one) is refused too, and so are the
// names of cloud metadata services. Redirects are not followed unless a
// client asks for some (media fetches); each then dials through the same
// check, so a public URL cannot bounce a request inward.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is returned for a connection to a refused address.
var ErrForbidden = errors.New("egress: destination address not allowed")

// ErrRedirect is returned for a redirect that is not followed.
var ErrRedirect = errors.New("egress: redirect refused")

// reserved are ranges netip has no predicate for.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, still private)
}

// IPv6 forms that carry an IPv4 address (RFC 4291, 2765, 3056, 4380,
// 6052), each with where the address sits.
var (
	compatible = netip.MustParsePrefix("::/96")           // ::a.b.c.d (deprecated)
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // ::ffff:0:a.b.c.d (SIIT)
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // 64:ff9b::a.b.c.d
	sixToFour  = netip.MustParsePrefix("2002::/16")       // 2002:aabb:ccdd::/48
	teredo     = netip.MustParsePrefix("2001::/32")       // server at 32..63, client (inverted) at 96..127
)

// Embedded returns the IPv4 addresses an IPv6 address carries (mapped,
// compatible, translated, NAT64, 6to4, Teredo); none for others.
func Embedded(ip netip.Addr) []netip.Addr {
	if !ip.Is6() {
		return nil
	}
	b := ip.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case ip.Is4In6():
		return []netip.Addr{ip.Unmap()}
	case compatible.Contains(ip), translated.Contains(ip), nat64.Contains(ip):
		return []netip.Addr{v4(12)}
	case sixToFour.Contains(ip):
		return []netip.Addr{v4(2)}
	case teredo.Contains(ip):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return []netip.Addr{v4(4), client}
	}
	return nil
}

// Allowed tells whether a public request may go to ip. An IPv6 address
// that carries IPv4 addresses is allowed only if they all are: ::127.0.0.1,
// ::ffff:0:7f00:1 and 2002:7f00:1:: reach loopback as surely as 127.0.0.1.
func Allowed(ip netip.Addr) bool {
	if !allowed(ip) {
		return false
	}
	for _, v4 := range Embedded(ip) {
		if !allowed(v4) {
			return false
		}
	}
	return true
}

func allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Options configure a client.
type Options struct {
	AllowPrivate bool          // PARLEY_ALLOW_PRIVATE_NETWORKS
	Timeout      time.Duration // whole request; zero: none (streams)
	// Permit are ranges reachable even though Allowed refuses them (an
	// on-premises media host: PARLEY_EGRESS_PERMIT), everything else
	// staying refused.
	Permit []netip.Prefix
	// Redirects is how many redirects to follow (0: none), each to http
	// or https only; the address each one dials is checked like the first.
	Redirects int
}

// permitted says whether o lets a request reach ip.
func (o Options) permitted(ip netip.Addr) bool {
	if Allowed(ip) {
		return true
	}
	for _, p := range o.Permit {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// metadataNames are hosts that name a cloud's instance metadata service
// by name; refused before any lookup, whatever they resolve to.
var metadataNames = map[string]bool{
	"metadata": true, "metadata.google.internal": true, "metadata.goog": true, "instance-data": true,
	"instance-data.ec2.internal": true, "metadata.azure.com": true, "metadata.internal": true,
}

// ForbiddenName says whether a host name is a metadata service's.
func ForbiddenName(host string) bool {
	return metadataNames[strings.TrimSuffix(strings.ToLower(host), ".")]
}

// NewClient returns a client that dials only allowed addresses and follows
// at most o.Redirects redirects.
func NewClient(o Options) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbidden, address)
			}
			if !o.permitted(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbidden, ap.Addr())
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:             nil, // an environment proxy would dial for us, past the check
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		// Up to a full set of workers (PARLEY_WORKERS, 100 by default) talk
		// to one model endpoint or webhook receiver at once: fewer idle
		// connections kept than that would close and dial (and handshake
		// TLS) again after nearly every call.
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
	}
	var rt http.RoundTripper = transport
	if !o.AllowPrivate {
		rt = namesChecked{transport, o}
	}
	return &http.Client{
		Transport: rt,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.Redirects {
				if o.Redirects == 0 {
					return http.ErrUseLastResponse
				}
				return fmt.Errorf("%w: more than %d redirects", ErrRedirect, o.Redirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: to a %s URL", ErrRedirect, req.URL.Scheme)
			}
			return nil
		},
	}
}

// namesChecked refuses metadata services' names before any lookup, on
// every request a client makes, redirects included.
type namesChecked struct {
	next http.RoundTripper
	o    Options
}

func (n namesChecked) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if ForbiddenName(host) {
		return nil, fmt.Errorf("%w: %s", ErrForbidden, host)
	}
	// "127.1", "2130706433", "0x7f000001": Go's resolver does not read
	// them as addresses, but a proxy or another resolver on the way may
	// (inet_aton): they are judged as the address they spell.
	if ip, ok := LegacyIPv4(host); ok && !n.o.permitted(ip) {
		return nil, fmt.Errorf("%w: %s", ErrForbidden, host)
	}
	return n.next.RoundTrip(req)
}

// LegacyIPv4 reads a host the way inet_aton does: one to four parts,
// each decimal, octal (leading 0) or hex (0x), the last filling the
// remaining bytes.
func LegacyIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 || host == "" {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// ensure the dialer signature stays what http.Transport expects.
var _ func(context.Context, string, string) (net.Conn, error) = (&net.Dialer{}).DialContext

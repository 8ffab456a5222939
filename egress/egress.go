// Package egress makes the HTTP clients Parley uses for requests whose
// destination a tenant chooses (webhooks, media URLs, model endpoints set on
// a bot). By default they refuse loopback, private, link-local (cloud
// metadata), shared, multicast and reserved addresses. The check runs on the
// address actually dialled, after DNS resolution, so a name that resolves to
// a private address (or a DNS-rebinding one) is refused too. Redirects are
// not followed: a public URL cannot bounce a request inward.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbidden is returned for a connection to a refused address.
var ErrForbidden = errors.New("egress: destination address not allowed")

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
}

// NewClient returns a client that dials only allowed addresses and follows
// no redirects.
func NewClient(o Options) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbidden, address)
			}
			if !Allowed(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbidden, ap.Addr())
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil, // an environment proxy would dial for us, past the check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ensure the dialer signature stays what http.Transport expects.
var _ func(context.Context, string, string) (net.Conn, error) = (&net.Dialer{}).DialContext

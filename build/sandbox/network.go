package sandbox

import (
	"bytes"
	"net/netip"
	"strings"
)

// Addresses of the network slirp4netns gives a NetworkDefault step (its
// defaults for --cidr=10.0.2.0/24): the step is 10.0.2.100 on tap0, the
// gateway 10.0.2.2 (which, with --disable-host-loopback, does not lead to
// the host's loopback) and the DNS forwarder 10.0.2.3, which relays
// queries to the first nameserver of the builder's /etc/resolv.conf,
// loopback ones included.
const (
	slirpDevice = "tap0"
	slirpDNS    = "10.0.2.3"
	// slirpMTU is rootlesskit's and BuildKit's choice: the largest MTU
	// slirp4netns takes, for throughput.
	slirpMTU = "65520"
)

// privateResolvConf is the /etc/resolv.conf of a NetworkDefault step,
// made from the builder's: as docker and BuildKit do for a private
// network, nameservers that cannot be reached from it are left out, here
// loopback ones (127.0.0.0/8, ::1: the builder's loopback is not the
// step's) and IPv6 ones (the step has no IPv6 route). Unlike docker, whose
// fallback is Google's public DNS, the first loopback nameserver is
// replaced by slirp4netns's forwarder, which asks the builder's first
// nameserver from the builder's network namespace, so that a local
// resolver such as systemd-resolved's 127.0.0.53 still answers; the
// forwarder is also the only nameserver when none is left. Other lines
// (search, options) are kept.
func privateResolvConf(host []byte) []byte {
	var out bytes.Buffer
	servers, forwarder := 0, false
	for _, line := range strings.SplitAfter(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			if strings.TrimSpace(line) != "" {
				out.WriteString(line)
				if !strings.HasSuffix(line, "\n") {
					out.WriteByte('\n')
				}
			}
			continue
		}
		// A zone (fe80::1%eth0) does not parse: such a server is left out
		// like any other IPv6 one.
		addr, err := netip.ParseAddr(f[1])
		switch {
		case err != nil || !addr.Unmap().Is4():
			continue
		case addr.IsLoopback():
			if forwarder {
				continue
			}
			forwarder = true
			out.WriteString("nameserver " + slirpDNS + "\n")
		default:
			out.WriteString("nameserver " + addr.Unmap().String() + "\n")
		}
		servers++
	}
	if servers == 0 {
		out.WriteString("nameserver " + slirpDNS + "\n")
	}
	return out.Bytes()
}

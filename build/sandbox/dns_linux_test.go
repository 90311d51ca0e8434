package sandbox

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// serveDNS answers A queries for name with addr on the UDP address listen
// (other names and types get an empty answer) until the returned function
// is called.
func serveDNS(t *testing.T, listen, name, addr string) func() {
	t.Helper()
	conn, err := net.ListenPacket("udp", listen)
	if err != nil {
		t.Fatalf("DNS server: %v", err)
	}
	ip := net.ParseIP(addr).To4()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply, ok := dnsReply(buf[:n], name, ip); ok {
				_, _ = conn.WriteTo(reply, from)
			}
		}
	}()
	return func() { conn.Close() }
}

// dnsReply builds the answer to one query.
func dnsReply(query []byte, name string, ip net.IP) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if q.Type == dnsmessage.TypeA && strings.EqualFold(strings.TrimSuffix(q.Name.String(), "."), name) {
		var a dnsmessage.AResource
		copy(a.A[:], ip)
		if b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, a) != nil {
			return nil, false
		}
	}
	msg, err := b.Finish()
	return msg, err == nil
}

package registry

import (
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// insecureTLSTransport is remote.DefaultTransport without certificate
// verification, shared so connections are reused.
var insecureTLSTransport = sync.OnceValue(func() http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for registries the user marked insecure
	return t
})

// insecureHosts sends HTTPS requests to insecure registries (loopback and
// [WithInsecureRegistries]) without verifying their certificate, as docker
// does for --insecure-registry; everything else, including token servers and
// blob redirects to other hosts, goes through the verifying transport.
type insecureHosts struct {
	o      *options
	secure http.RoundTripper
}

var _ http.RoundTripper = insecureHosts{}

// RoundTrip implements [http.RoundTripper].
func (t insecureHosts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "https" && t.o.isInsecure(r.URL.Host) {
		return insecureTLSTransport().RoundTrip(r)
	}
	return t.secure.RoundTrip(r)
}

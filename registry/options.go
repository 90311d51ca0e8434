package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// defaultJobs is the number of blobs transferred in parallel unless
// [WithJobs] says otherwise. It matches go-containerregistry's default.
const defaultJobs = 4

// Option configures registry access. Options are applied in order over the
// defaults set in [makeOptions]; an invalid value (a malformed CIDR, a job
// count below 1) is an error of the call the option is given to.
type Option func(*options) error

// options holds the settings of one call; defaults live in makeOptions.
type options struct {
	insecure  []string
	keychain  authn.Keychain
	userAgent string
	platform  v1.Platform
	jobs      int
	progress  chan<- v1.Update
	transport http.RoundTripper
	retry     remote.Backoff

	blobProgress func(BlobEvent)
	mountFrom    []string
	chunkSize    int64

	maxManifest, maxConfig int64
	timeouts               Timeouts
}

// WithInsecureRegistries marks registries insecure, as docker's
// --insecure-registry does: HTTPS is tried first without verifying the
// certificate, then plain HTTP. A
// host is "name", "name:port" or a CIDR such as "10.0.0.0/8"; a host given
// without a port matches every port. localhost, 127.0.0.0/8 and ::1 are
// always insecure. An empty host or a malformed CIDR is an error.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) error {
		for _, h := range hosts {
			if h == "" {
				return errors.New("invalid insecure registry: empty host")
			}
			if strings.Contains(h, "/") {
				if _, _, err := net.ParseCIDR(h); err != nil {
					return fmt.Errorf("invalid insecure registry %q: %w", h, err)
				}
			}
		}
		o.insecure = append(o.insecure, hosts...)
		return nil
	}
}

// WithKeychain sets where credentials come from. The default is
// [authn.DefaultKeychain] (docker's config.json and credential helpers, found
// through $DOCKER_CONFIG or ~/.docker); use [ConfigKeychain] to name the
// directory explicitly.
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error { o.keychain = kc; return nil }
}

// WithUserAgent sets the User-Agent sent to registries (go-containerregistry
// appends its own product token).
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithPlatform selects which manifest of a multi-platform index [Image]
// returns. The default is the host platform ([HostPlatform]).
func WithPlatform(p v1.Platform) Option {
	return func(o *options) error { o.platform = p; return nil }
}

// WithJobs sets how many blobs are transferred in parallel (default 4).
// A value below 1 is an error.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("invalid number of parallel transfers %d: want at least 1", n)
		}
		o.jobs = n
		return nil
	}
}

// WithProgress makes [Push] send upload progress on ch. As in
// go-containerregistry, the channel is closed when the push finishes (after
// an update carrying the error, if it failed), so a channel serves only one
// Push, and the caller must drain it while Push runs. Pulls report no progress here: the caller
// sees bytes as it reads the lazy layers.
func WithProgress(ch chan<- v1.Update) Option {
	return func(o *options) error { o.progress = ch; return nil }
}

// makeOptions applies opts over the defaults. It applies every option and
// returns the options together with the errors of the invalid ones, so that
// a caller can still honour a contract (Push closes its progress channel)
// before it fails.
func makeOptions(opts ...Option) (*options, error) {
	o := &options{
		keychain:  authn.DefaultKeychain,
		platform:  HostPlatform(),
		jobs:      defaultJobs,
		transport: remote.DefaultTransport,
		retry:     defaultRetry,
	}
	var errs []error
	for _, opt := range opts {
		if opt != nil {
			errs = append(errs, opt(o))
		}
	}
	if o.keychain == nil {
		o.keychain = authn.DefaultKeychain
	}
	if o.transport == nil {
		o.transport = remote.DefaultTransport
	}
	if o.transport == remote.DefaultTransport {
		o.transport = insecureHosts{o: o, secure: remote.DefaultTransport}
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("registry options: %w", err)
	}
	return o, nil
}

// remote returns the go-containerregistry options for one call.
func (o *options) remote(ctx context.Context) []remote.Option {
	return o.remoteVia(ctx, o.bounded())
}

// bounded is o.transport with the redirect bound and the timeouts
// ([WithTimeouts]) applied: every request of this package goes through it.
func (o *options) bounded() http.RoundTripper {
	return o.timeouts.Transport(o.transport)
}

// remoteVia is remote with rt (which wraps o.transport) as the transport.
// go-containerregistry adds its retries (o.retry) and auth around it; reauth
// sits below auth so it sees the credentials a request carried.
func (o *options) remoteVia(ctx context.Context, rt http.RoundTripper) []remote.Option {
	ro := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithPlatform(o.platform),
		remote.WithJobs(o.jobs),
		remote.WithTransport(reauth{inner: capManifests{inner: rt, limit: o.manifestLimit()}}),
		remote.WithRetryBackoff(o.retry),
	}
	if o.userAgent != "" {
		ro = append(ro, remote.WithUserAgent(o.userAgent))
	}
	if o.progress != nil {
		ro = append(ro, remote.WithProgress(o.progress))
	}
	return ro
}

// PlatformOf returns the platform opts choose ([WithPlatform]), or the
// host's (with OS linux, the only images ibuild runs).
func PlatformOf(opts ...Option) v1.Platform {
	host := HostPlatform()
	o, err := makeOptions(opts...)
	if err != nil || o.platform.Equals(host) {
		host.OS = "linux"
		return host
	}
	return o.platform
}

// HostPlatform returns the platform of the running binary: runtime.GOOS and
// runtime.GOARCH, with the variant for arm (from the GOARM the binary was
// built with, "v7" if unknown) and "v8" for arm64.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	switch runtime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "GOARM" && s.Value != "" {
					p.Variant = "v" + s.Value[:1]
				}
			}
		}
	}
	return p
}

package registry

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

const (
	// dockerHub is the registry name docker shows for Docker Hub.
	dockerHub = "docker.io"
	// officialPrefix is the namespace of Docker Hub's official images.
	officialPrefix = "library/"
)

// pathComponent is docker's grammar for one slash-separated element of a
// repository path (distribution/reference); go-containerregistry alone also
// accepts names such as "a/./b" or "-x" that docker rejects.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// nameTotalLengthMax is docker's limit on a repository name including its
// registry (distribution/reference NameTotalLengthMax), checked, as docker
// does, on the normalised name ("docker.io/library/x").
const nameTotalLengthMax = 255

// checkPath rejects repository paths docker would reject.
func checkPath(ref name.Reference) error {
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	if n := len(reg) + 1 + len(ref.Context().RepositoryStr()); n > nameTotalLengthMax {
		return fmt.Errorf("repository name must not be more than %d characters (%s/... has %d)", nameTotalLengthMax, reg, n)
	}
	for _, c := range strings.Split(ref.Context().RepositoryStr(), "/") {
		if !pathComponent.MatchString(c) {
			return fmt.Errorf("invalid repository path component %q: must be lowercase letters and digits separated by '.', '_', '__' or '-'", c)
		}
	}
	return nil
}

// parseDocker parses s with docker's defaults and grammar.
func parseDocker(s string, opts ...name.Option) (name.Reference, error) {
	ref, err := name.ParseReference(s, opts...)
	if err == nil {
		err = checkPath(ref)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", s, err)
	}
	return ref, nil
}

// ParseReference parses a user reference with docker's defaults: no registry
// means Docker Hub (docker.io/library/NAME for a one-element name), no tag
// means :latest. "name:tag@digest" is accepted and resolves to the digest,
// as docker pull does. The registry is marked plain-HTTP capable when it is
// a loopback host or one given to [WithInsecureRegistries].
func ParseReference(s string, opts ...Option) (name.Reference, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	return o.parse(s)
}

// parse is ParseReference with options already made.
func (o *options) parse(s string) (name.Reference, error) {
	ref, err := parseDocker(s)
	if err != nil {
		return nil, err
	}
	if o.isInsecure(ref.Context().RegistryStr()) {
		return parseDocker(s, name.Insecure)
	}
	return ref, nil
}

// registry parses a registry host ("" or "docker.io" means Docker Hub; a URL
// such as https://index.docker.io/v1/ is reduced to its host).
func (o *options) registry(s string) (name.Registry, error) {
	host := s
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host, _, _ = strings.Cut(host, "/")
	var nopts []name.Option
	if o.isInsecure(host) {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("parsing registry %q: %w", s, err)
	}
	return reg, nil
}

// isInsecure reports whether host ("name" or "name:port") may be reached
// over plain HTTP.
func (o *options) isInsecure(host string) bool {
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	hostname = strings.Trim(hostname, "[]")
	ip := net.ParseIP(hostname)
	if hostname == "localhost" || strings.HasSuffix(hostname, ".localhost") || (ip != nil && ip.IsLoopback()) {
		return true
	}
	for _, h := range o.insecure {
		if _, cidr, err := net.ParseCIDR(h); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		if h == host || h == hostname {
			return true
		}
	}
	return false
}

// Normalize returns the canonical form of a reference, used as the tag in
// ibuild's local store: "alpine:3.19" becomes "docker.io/library/alpine:3.19",
// "127.0.0.1:5000/app" becomes "127.0.0.1:5000/app:latest". A reference with a
// digest normalises to "REPO@DIGEST" (a tag given alongside it is dropped, as
// it does not select anything).
func Normalize(s string) (string, error) {
	ref, err := parseDocker(s)
	if err != nil {
		return "", err
	}
	return normalized(ref), nil
}

// normalized is the canonical string of a parsed reference.
func normalized(ref name.Reference) string {
	repo := canonicalRepo(ref.Context())
	if d, ok := ref.(name.Digest); ok {
		return repo + "@" + d.DigestStr()
	}
	return repo + ":" + ref.Identifier()
}

// canonicalRepo is "REGISTRY/REPOSITORY" with Docker Hub spelled docker.io.
func canonicalRepo(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + r.RepositoryStr()
}

// FamiliarName turns a normalised name back into docker's short form for
// display: "docker.io/library/alpine:3.19" is "alpine:3.19",
// "docker.io/me/app:1" is "me/app:1"; names on other registries, and Hub
// names whose first component would read as a registry ("docker.io/a.b/c"),
// are returned unchanged.
func FamiliarName(s string) string {
	for _, hub := range []string{dockerHub + "/", name.DefaultRegistry + "/"} {
		rest, ok := strings.CutPrefix(s, hub)
		if !ok {
			continue
		}
		if short, ok := strings.CutPrefix(rest, officialPrefix); ok {
			path, _, _ := strings.Cut(short, ":")
			path, _, _ = strings.Cut(path, "@")
			if !strings.Contains(path, "/") {
				return short
			}
		}
		// "docker.io/0.0/x" must keep its registry: "0.0/x" would name
		// the registry 0.0 (found by FuzzNormalize).
		if first, _, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
			return dockerHub + "/" + rest
		}
		return rest
	}
	return s
}

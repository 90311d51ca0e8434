package attest

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// StatementType is the in-toto statement version BuildKit writes.
const StatementType = "https://in-toto.io/Statement/v0.1"

// Statement is an in-toto statement: what (Predicate, of PredicateType)
// is said about which artifacts (Subject).
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject names an artifact by digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// NewStatement makes a statement of predicate about subjects.
func NewStatement(predicateType string, predicate json.RawMessage, subjects []Subject) Statement {
	return Statement{Type: StatementType, PredicateType: predicateType, Subject: subjects, Predicate: predicate}
}

// Subjects names the image manifest dig once per tag, as BuildKit does:
// pkg:docker/NAME@TAG?platform=OS%2FARCH. Without tags the one subject is
// named "_" (BuildKit's placeholder name; it writes no subject at all, but
// an in-toto statement needs one).
func Subjects(tags []string, p v1.Platform, dig v1.Hash) []Subject {
	d := map[string]string{dig.Algorithm: dig.Hex}
	var out []Subject
	for _, t := range tags {
		out = append(out, Subject{Name: dockerPURL(t, p), Digest: d})
	}
	if len(out) == 0 {
		out = []Subject{{Name: "_", Digest: d}}
	}
	return out
}

// dockerPURL is BuildKit's purl.RefToPURL for type docker: the familiar
// name split into namespace and name, the tag as version, the platform as
// a qualifier.
func dockerPURL(ref string, p v1.Platform) string {
	version, qualifiers := "", ""
	repo := ref
	if r, err := name.ParseReference(ref); err == nil {
		repo = familiar(r.Context())
		switch r := r.(type) {
		case name.Tag:
			version = r.TagStr()
		case name.Digest:
			qualifiers = "digest=" + url.QueryEscape(r.DigestStr()) + "&"
		}
	}
	segs := strings.Split(repo, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	out := "pkg:docker/" + strings.Join(segs, "/")
	if version != "" {
		out += "@" + purlEscape(version)
	}
	return out + "?" + qualifiers + "platform=" + url.QueryEscape(platformString(p))
}

// familiar is docker's short name of a repository: "debian" for
// index.docker.io/library/debian, "me/app" for index.docker.io/me/app.
func familiar(r name.Repository) string {
	reg := r.RegistryStr()
	repo := r.RepositoryStr()
	if reg == name.DefaultRegistry || reg == "docker.io" {
		return strings.TrimPrefix(repo, "library/")
	}
	return reg + "/" + repo
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// purlEscape percent-encodes a package URL segment or version as
// packageurl-go does (BuildKit's and syft's purls): a path escape that
// also encodes ':' ("127.0.0.1%3A5000").
func purlEscape(s string) string { return strings.ReplaceAll(url.PathEscape(s), ":", "%3A") }

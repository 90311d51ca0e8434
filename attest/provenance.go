package attest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PredicateSLSA02 is the in-toto predicate type of SLSA provenance v0.2,
// the one BuildKit v0.17 writes.
const PredicateSLSA02 = "https://slsa.dev/provenance/v0.2"

// BuildType is the buildType BuildKit writes. ibuild writes it too: the
// invocation's parameters follow BuildKit's Dockerfile frontend
// (frontend dockerfile.v0, build-arg:NAME, label:NAME, target), so that
// tools reading BuildKit's provenance read ibuild's.
const BuildType = "https://mobyproject.org/buildkit@v1"

// Provenance modes (--provenance=mode=...).
const (
	ModeMin = "min"
	ModeMax = "max"
)

// Material is an image the build read (FROM, COPY --from, RUN
// --mount=from, a docker-image:// or oci-layout:// named context).
type Material struct {
	// Ref is the reference as the Dockerfile or flag gave it.
	Ref string
	// Digest is the manifest the reference resolved to.
	Digest   v1.Hash
	Platform v1.Platform
	// Local marks an image read from an OCI layout (a pkg:oci URI, as
	// BuildKit).
	Local bool
}

// Git is the commit of the build context.
type Git struct {
	// URL is the repository's remote URL (credentials are removed), or
	// the git context's URL.
	URL string
	// Commit is the full hash of the commit.
	Commit string
	// Remote says the context was a git URL, not a local work tree.
	Remote bool
}

// ProvenanceOptions is what the build was given.
type ProvenanceOptions struct {
	Mode string
	// DockerfileName is the Dockerfile's name relative to the context
	// ("Dockerfile", "docker/prod.Dockerfile").
	DockerfileName string
	Dockerfile     []byte
	Target         string
	BuildArgs      map[string]string
	Labels         map[string]string
	NoCache        bool
	Secrets, SSH   []string
	Materials      []Material
	Git            *Git
	// Platform is the builder's platform.
	Platform v1.Platform
	// BuilderID is the builder's identity (builder.id; empty by default,
	// as BuildKit's unless buildx passes builder-id).
	BuilderID string
}

// The SLSA v0.2 predicate with BuildKit's invocation and metadata.
type slsaPredicate struct {
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	BuildType  string         `json:"buildType"`
	Materials  []slsaMaterial `json:"materials"`
	Invocation slsaInvocation `json:"invocation"`
	Metadata   slsaMetadata   `json:"metadata"`
}

type slsaMaterial struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

type slsaInvocation struct {
	ConfigSource struct {
		URI        string            `json:"uri,omitempty"`
		Digest     map[string]string `json:"digest,omitempty"`
		EntryPoint string            `json:"entryPoint,omitempty"`
	} `json:"configSource"`
	Parameters struct {
		Frontend string            `json:"frontend"`
		Args     map[string]string `json:"args,omitempty"`
		Secrets  []idParam         `json:"secrets,omitempty"`
		SSH      []idParam         `json:"ssh,omitempty"`
		Locals   []nameParam       `json:"locals,omitempty"`
	} `json:"parameters"`
	Environment struct {
		Platform string `json:"platform"`
	} `json:"environment"`
}

type idParam struct {
	ID string `json:"id"`
}

type nameParam struct {
	Name string `json:"name"`
}

type slsaMetadata struct {
	Completeness struct {
		Parameters  bool `json:"parameters"`
		Environment bool `json:"environment"`
		Materials   bool `json:"materials"`
	} `json:"completeness"`
	Reproducible bool             `json:"reproducible"`
	BuildKit     buildkitMetadata `json:"https://mobyproject.org/buildkit@v1#metadata,omitempty"`
}

type buildkitMetadata struct {
	VCS    map[string]string `json:"vcs,omitempty"`
	Source *struct {
		Infos []sourceInfo `json:"infos"`
	} `json:"source,omitempty"`
}

type sourceInfo struct {
	Filename string `json:"filename"`
	Language string `json:"language"`
	Data     []byte `json:"data"`
}

// Provenance returns a SLSA v0.2 predicate as BuildKit writes it:
// materials are the images the build read (with the digests they resolved
// to) and the context's git commit; the invocation names the Dockerfile
// (configSource.entryPoint, and its sha256 in configSource.digest, which
// BuildKit leaves empty for a local context), the target and, in max mode
// only, the build args, labels, secret and ssh ids; max mode also carries
// the Dockerfile itself (metadata source infos), as BuildKit's. There are
// no timestamps or invocation id: the same build gives the same predicate.
func Provenance(o ProvenanceOptions) (json.RawMessage, error) {
	if o.Mode != ModeMin && o.Mode != ModeMax {
		return nil, fmt.Errorf("provenance mode %q: want min or max", o.Mode)
	}
	var p slsaPredicate
	p.BuildType = BuildType
	p.Builder.ID = o.BuilderID
	p.Materials = []slsaMaterial{}
	for _, m := range o.Materials {
		p.Materials = append(p.Materials, slsaMaterial{URI: materialURI(m), Digest: map[string]string{m.Digest.Algorithm: m.Digest.Hex}})
	}
	inv := &p.Invocation
	inv.ConfigSource.EntryPoint = o.DockerfileName
	dig, _, err := v1.SHA256(strings.NewReader(string(o.Dockerfile)))
	if err != nil {
		return nil, err
	}
	inv.ConfigSource.Digest = map[string]string{dig.Algorithm: dig.Hex}
	if g := o.Git; g != nil {
		url := redact(g.URL)
		if g.Remote {
			// A git URL context: BuildKit's configSource and material.
			inv.ConfigSource.URI = url
			p.Materials = append(p.Materials, slsaMaterial{URI: url, Digest: map[string]string{"sha1": g.Commit}})
		}
		p.Metadata.BuildKit.VCS = map[string]string{"revision": g.Commit}
		if url != "" {
			p.Metadata.BuildKit.VCS["source"] = url
		}
	}
	inv.Parameters.Frontend = "dockerfile.v0"
	inv.Parameters.Locals = []nameParam{{"context"}, {"dockerfile"}}
	inv.Environment.Platform = platformString(o.Platform)
	args := map[string]string{}
	if o.Target != "" {
		args["target"] = o.Target
	}
	if o.NoCache {
		args["no-cache"] = ""
	}
	p.Metadata.Completeness.Parameters = true
	p.Metadata.Completeness.Environment = true
	// Materials are incomplete: the local context is not one (BuildKit
	// says the same of a build with local sources).
	p.Metadata.Completeness.Materials = false
	if o.Mode == ModeMax {
		for k, v := range o.BuildArgs {
			args["build-arg:"+k] = v
		}
		for k, v := range o.Labels {
			args["label:"+k] = v
		}
		for _, id := range sorted(o.Secrets) {
			inv.Parameters.Secrets = append(inv.Parameters.Secrets, idParam{id})
		}
		for _, id := range sorted(o.SSH) {
			inv.Parameters.SSH = append(inv.Parameters.SSH, idParam{id})
		}
		p.Metadata.BuildKit.Source = &struct {
			Infos []sourceInfo `json:"infos"`
		}{Infos: []sourceInfo{{Filename: o.DockerfileName, Language: "Dockerfile", Data: o.Dockerfile}}}
	} else if len(o.BuildArgs)+len(o.Labels) > 0 {
		p.Metadata.Completeness.Parameters = false // left out, as BuildKit's min mode
	}
	if len(args) > 0 {
		inv.Parameters.Args = args
	}
	return json.Marshal(p)
}

// materialURI is BuildKit's package URL of an image material.
func materialURI(m Material) string {
	if m.Local {
		// DIR[:TAG] of an OCI layout: pkg:oci/BASENAME[@TAG].
		dir, tag := m.Ref, ""
		if i := strings.LastIndex(dir, ":"); i > 0 && !strings.Contains(dir[i:], "/") {
			dir, tag = dir[:i], dir[i+1:]
		}
		out := "pkg:oci/" + purlEscape(path.Base(dir))
		if tag != "" {
			out += "@" + purlEscape(tag)
		}
		return out + "?platform=" + url.QueryEscape(platformString(m.Platform))
	}
	return dockerPURL(m.Ref, m.Platform)
}

// redact removes credentials from a URL, as BuildKit's
// urlutil.RedactCredentials.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

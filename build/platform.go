package build

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/registry"
)

// knownArchs are the architectures a platform string may name (GOARCH
// spellings, plus the uname ones containerd's Normalize accepts).
var knownArchs = []string{"amd64", "386", "arm", "arm64", "ppc64le", "ppc64", "s390x", "riscv64",
	"mips", "mipsle", "mips64", "mips64le", "loong64", "wasm",
	"x86_64", "x86-64", "aarch64", "armhf", "armel", "i386", "i486", "i586", "i686"}

// knownOSes are the operating systems a platform string may name.
var knownOSes = []string{"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "android", "ios", "plan9", "js", "wasip1"}

// ParsePlatforms parses --platform's value: a comma-separated list of
// os/arch[/variant] (an arch alone means linux/arch), each normalised as
// containerd does (aarch64 and arm64/v8 are linux/arm64, arm is arm/v7,
// x86_64 is amd64). Duplicates after normalisation are dropped; "" gives
// none (the host). ibuild builds Linux images only.
func ParsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parsePlatform(f)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(q v1.Platform) bool { return q.Equals(p) }) {
			out = append(out, p)
		}
	}
	return out, nil
}

// parsePlatform parses and normalises one platform.
func parsePlatform(s string) (v1.Platform, error) {
	if s == "local" {
		return hostPlatform(), nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	var p v1.Platform
	switch len(parts) {
	case 1:
		p = v1.Platform{OS: "linux", Architecture: parts[0]}
		if slices.Contains(knownOSes, parts[0]) {
			return v1.Platform{}, fmt.Errorf("invalid platform %q: missing architecture (for example %s/amd64)", s, parts[0])
		}
	case 2:
		p = v1.Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = v1.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return v1.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant]", s)
	}
	if !slices.Contains(knownOSes, p.OS) {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: unknown operating system %q", s, p.OS)
	}
	if !slices.Contains(knownArchs, p.Architecture) {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: unknown architecture %q (known: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, ...)", s, p.Architecture)
	}
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q is not supported: ibuild builds linux images only", s)
	}
	return normalizePlatform(p), nil
}

// normalizePlatform spells p as containerd's platforms.Normalize does:
// GOARCH names, arm64's default variant v8 dropped, arm's default v7.
func normalizePlatform(p v1.Platform) v1.Platform {
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
		p.Variant = ""
	case "i386", "i486", "i586", "i686":
		p.Architecture = "386"
		p.Variant = ""
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		switch p.Variant {
		case "8", "v8", "v8.0":
			p.Variant = ""
		}
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "arm":
		switch p.Variant {
		case "", "7":
			p.Variant = "v7"
		case "5", "6", "8":
			p.Variant = "v" + p.Variant
		}
	}
	return p
}

// hostPlatform is the platform of the machine ibuild runs on (the build
// platform): Linux on the binary's architecture and variant, as
// registry.HostPlatform reads them (arm's from GOARM), normalised.
func hostPlatform() v1.Platform {
	p := registry.HostPlatform()
	p.OS = "linux"
	return normalizePlatform(p)
}

// platformString is "os/arch[/variant]", as BuildKit prints platforms.
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// samePlatform says whether an image made for have serves want (variants
// as registry.MatchPlatform ranks them).
func samePlatform(have, want v1.Platform) bool {
	_, err := registry.MatchPlatform([]v1.Descriptor{{Platform: &have}}, want)
	return err == nil
}

// targetPlatforms are the platforms opt asks for; the host's when none.
func (o *Options) targetPlatforms() ([]v1.Platform, error) {
	ps, err := ParsePlatforms(o.Platform)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		ps = []v1.Platform{hostPlatform()}
	}
	return ps, nil
}

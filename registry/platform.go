package registry

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNoMatchingPlatform is wrapped by [MatchPlatform] (and so by [Image])
// when an index has no manifest for the wanted platform.
var ErrNoMatchingPlatform = errors.New("no matching manifest for platform")

// MatchPlatform chooses the manifest for want among an index's manifests,
// following docker's rules: OS and architecture must match; an empty wanted
// variant accepts any; arm64 treats "" and "v8" as the same; an arm host
// runs older variants (v7 accepts v7, then v6, then v5). Among equally good
// candidates the first in the index wins. Manifests without a platform are
// skipped (attestations are marked unknown/unknown).
func MatchPlatform(manifests []v1.Descriptor, want v1.Platform) (v1.Descriptor, error) {
	best, bestRank := -1, -1
	for i, m := range manifests {
		if m.Platform == nil {
			continue
		}
		r := platformRank(*m.Platform, want)
		if r > bestRank {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		var have []string
		for _, m := range manifests {
			if m.Platform != nil && m.Platform.OS != "unknown" {
				have = append(have, formatPlatform(*m.Platform))
			}
		}
		return v1.Descriptor{}, fmt.Errorf("%w %s (index has: %s)", ErrNoMatchingPlatform,
			formatPlatform(want), strings.Join(have, ", "))
	}
	return manifests[best], nil
}

// platformRank scores how well have serves want: -1 not at all, higher is
// better.
func platformRank(have, want v1.Platform) int {
	if normArch(have.Architecture) != normArch(want.Architecture) || have.OS != want.OS {
		return -1
	}
	if want.OSVersion != "" && have.OSVersion != "" && have.OSVersion != want.OSVersion {
		return -1
	}
	hv, wv := normVariant(have), normVariant(want)
	switch {
	case wv == "":
		return 10
	case hv == wv:
		return 10
	case normArch(want.Architecture) == "arm" && hv == "":
		return 1
	case normArch(want.Architecture) == "arm" && len(hv) == 2 && len(wv) == 2 && hv[0] == 'v' && hv < wv:
		// v7 runs v6 and v5, preferring the newest.
		return 2 + int(hv[1]-'0')
	}
	return -1
}

// normArch maps uname spellings to GOARCH names.
func normArch(a string) string {
	switch a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "armhf", "armel":
		return "arm"
	}
	return a
}

// normVariant treats arm64's default variant v8 as empty.
func normVariant(p v1.Platform) string {
	if normArch(p.Architecture) == "arm64" && p.Variant == "v8" {
		return ""
	}
	return p.Variant
}

// formatPlatform is "os/arch[/variant]".
func formatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

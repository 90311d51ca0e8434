package registry

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestMatchPlatform(t *testing.T) {
	mk := func(ps ...string) []v1.Descriptor {
		var ds []v1.Descriptor
		for i, p := range ps {
			parts := strings.Split(p, "/")
			pl := &v1.Platform{OS: parts[0], Architecture: parts[1]}
			if len(parts) > 2 {
				pl.Variant = parts[2]
			}
			ds = append(ds, v1.Descriptor{Size: int64(i), Platform: pl})
		}
		return ds
	}
	for _, tc := range []struct {
		name  string
		index []v1.Descriptor
		want  v1.Platform
		got   int64 // index of the chosen entry, -1 for no match
	}{
		{"exact", mk("linux/arm64/v8", "linux/amd64"), v1.Platform{OS: "linux", Architecture: "amd64"}, 1},
		{"skips attestations", mk("unknown/unknown", "linux/amd64"), v1.Platform{OS: "linux", Architecture: "amd64"}, 1},
		{"arm64 v8 is arm64", mk("linux/amd64", "linux/arm64"), v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1},
		{"arm64 wants any", mk("linux/arm64/v8"), v1.Platform{OS: "linux", Architecture: "arm64"}, 0},
		{"arm v7 exact wins", mk("linux/arm/v6", "linux/arm/v7"), v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 1},
		{"arm v7 runs v6", mk("linux/arm/v5", "linux/arm/v6"), v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 1},
		{"arm v6 cannot run v7", mk("linux/arm/v7"), v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, -1},
		{"first of equals", mk("linux/amd64", "linux/amd64"), v1.Platform{OS: "linux", Architecture: "amd64"}, 0},
		{"uname spelling", mk("linux/x86_64"), v1.Platform{OS: "linux", Architecture: "amd64"}, 0},
		{"os differs", mk("windows/amd64"), v1.Platform{OS: "linux", Architecture: "amd64"}, -1},
		{"none", nil, v1.Platform{OS: "linux", Architecture: "amd64"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := MatchPlatform(tc.index, tc.want)
			if tc.got < 0 {
				if !errors.Is(err, ErrNoMatchingPlatform) {
					t.Fatalf("MatchPlatform = %v, %v; want ErrNoMatchingPlatform", d.Platform, err)
				}
				if !strings.Contains(err.Error(), formatPlatform(tc.want)) {
					t.Errorf("error %q does not name the wanted platform", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Size != tc.got {
				t.Errorf("chose entry %d (%v), want %d", d.Size, d.Platform, tc.got)
			}
		})
	}
}

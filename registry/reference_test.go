package registry

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	const dgst = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		in, want string
	}{
		{"alpine", "docker.io/library/alpine:latest"},
		{"alpine:3.19", "docker.io/library/alpine:3.19"},
		{"docker.io/alpine:3.19", "docker.io/library/alpine:3.19"},
		{"index.docker.io/library/alpine", "docker.io/library/alpine:latest"},
		{"me/app:1", "docker.io/me/app:1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"localhost/app:dev", "localhost/app:dev"},
		{"ghcr.io/org/team/app:v2", "ghcr.io/org/team/app:v2"},
		{"alpine@" + dgst, "docker.io/library/alpine@" + dgst},
		{"alpine:3.19@" + dgst, "docker.io/library/alpine@" + dgst},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeLongestName(t *testing.T) {
	in := strings.Repeat("0", 237) // docker.io/library/ + 237 = 255
	n, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Normalize(n); err != nil || again != n {
		t.Errorf("Normalize(%q) = %q, %v", n, again, err)
	}
}

func TestNormalizeErrors(t *testing.T) {
	for _, in := range []string{"", "Alpine", "alpine:", "a b", "alpine@sha256:123",
		"docker.io/.", "a/./b", "-x", "a_-b", "a..b", "reg.example/a//b", "a/",
		// docker.io/library/ plus 238 characters is 256: found by FuzzNormalize
		// (testdata/fuzz/FuzzNormalize/bd0f851ca6d47dde).
		strings.Repeat("0", 238), "reg.example/" + strings.Repeat("a", 244)} {
		if got, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
		}
	}
}

func TestFamiliarName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"docker.io/library/alpine:3.19", "alpine:3.19"},
		{"index.docker.io/library/alpine:3.19", "alpine:3.19"},
		{"docker.io/me/app:1", "me/app:1"},
		{"docker.io/library/a/b:1", "library/a/b:1"},
		{"docker.io/library/alpine@sha256:00", "alpine@sha256:00"},
		{"127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"},
		// A first component that reads as a registry keeps docker.io (found
		// by FuzzNormalize: testdata/fuzz/FuzzNormalize/69b06b315cf0a5d4).
		{"docker.io/0.0/0:latest", "docker.io/0.0/0:latest"},
		{"docker.io/localhost/x:1", "docker.io/localhost/x:1"},
		{"alpine:3.19", "alpine:3.19"},
	} {
		if got := FamiliarName(tc.in); got != tc.want {
			t.Errorf("FamiliarName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Round trip: the familiar form normalises back.
	for _, s := range []string{"docker.io/library/alpine:3.19", "docker.io/me/app:1", "quay.io/x/y:z"} {
		if got, err := Normalize(FamiliarName(s)); err != nil || got != s {
			t.Errorf("Normalize(FamiliarName(%q)) = %q, %v", s, got, err)
		}
	}
}

func TestParseReferenceScheme(t *testing.T) {
	for _, tc := range []struct {
		ref      string
		insecure []string
		want     string
	}{
		{"alpine", nil, "https"},
		{"localhost:5000/app", nil, "http"},
		{"localhost/app", nil, "http"},
		{"127.0.0.1:5000/app", nil, "http"},
		{"127.1.2.3:5000/app", nil, "http"},
		{"[::1]:5000/app", nil, "http"},
		{"reg.example:5000/app", nil, "https"},
		{"reg.example:5000/app", []string{"reg.example:5000"}, "http"},
		{"reg.example:5000/app", []string{"reg.example"}, "http"},
		{"reg.example:5000/app", []string{"reg.example:6000"}, "https"},
		{"100.64.1.2:5000/app", []string{"100.64.0.0/10"}, "http"},
		{"100.128.1.2:5000/app", []string{"100.64.0.0/10"}, "https"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			ref, err := ParseReference(tc.ref, WithInsecureRegistries(tc.insecure...))
			if err != nil {
				t.Fatal(err)
			}
			if got := ref.Context().Scheme(); got != tc.want {
				t.Errorf("scheme of %q with insecure %v = %s, want %s", tc.ref, tc.insecure, got, tc.want)
			}
		})
	}
}

// FuzzNormalize checks that normalising is idempotent and that the familiar
// form normalises back to the same name.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alpine", "alpine:3.19", "me/app:1", "localhost:5000/a/b:c",
		"docker.io/library/a/b", "index.docker.io/x", "alpine@sha256:" + strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		if again, err := Normalize(n); err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, Normalize of that = %q, %v", s, n, again, err)
		}
		if back, err := Normalize(FamiliarName(n)); err != nil || back != n {
			t.Fatalf("Normalize(FamiliarName(%q)) = %q, %v", n, back, err)
		}
	})
}

package build

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestChainKey(t *testing.T) {
	parent := chainKey(v1.Hash{}, "scratch")
	base := chainKey(parent, "RUN", []string{"sh", "-c", "x"}, []string{"A=1"})
	cases := []struct {
		name string
		got  v1.Hash
		same bool
	}{
		{"same inputs", chainKey(parent, "RUN", []string{"sh", "-c", "x"}, []string{"A=1"}), true},
		{"other parent", chainKey(chainKey(v1.Hash{}, "other"), "RUN", []string{"sh", "-c", "x"}, []string{"A=1"}), false},
		{"other env", chainKey(parent, "RUN", []string{"sh", "-c", "x"}, []string{"A=2"}), false},
		{"argv split differently", chainKey(parent, "RUN", []string{"sh", "-c x"}, []string{"A=1"}), false},
		{"parts moved between fields", chainKey(parent, "RUN", []string{"sh", "-c", "x", "A=1"}, []string{}), false},
	}
	for _, c := range cases {
		if (c.got == base) != c.same {
			t.Errorf("%s: equal=%v, want %v", c.name, c.got == base, c.same)
		}
	}
}

func TestSetEnv(t *testing.T) {
	env := []string{"PATH=/bin", "A=1", "B=2"}
	got := setEnv(env, "A", "x")
	if want := []string{"PATH=/bin", "A=x", "B=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("replace: %v, want %v", got, want)
	}
	got = setEnv(env, "C", "3")
	if want := []string{"PATH=/bin", "A=1", "B=2", "C=3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("append: %v, want %v", got, want)
	}
	if v, ok := lookupEnv(got, "C"); !ok || v != "3" {
		t.Errorf("lookupEnv C = %q, %v", v, ok)
	}
	if _, ok := lookupEnv(got, "D"); ok {
		t.Errorf("lookupEnv found an unset variable")
	}
}

func TestFileChanges(t *testing.T) {
	prev := map[string]string{"a": "1 644 0:0 t1", "b": "2 644 0:0 t1", "c": "3 644 0:0 t1"}
	cases := []struct {
		name string
		cur  map[string]string
		want []string
	}{
		{"added and removed", map[string]string{"a": "1 644 0:0 t1", "b": "2 644 0:0 t1", "d": "4 644 0:0 t1"},
			[]string{"file c removed", "file d added"}},
		{"metadata", map[string]string{"a": "1 755 0:0 t1", "b": "2 644 0:0 t1", "c": "3 644 0:0 t1"},
			[]string{"file a changed (size, mode or owner)"}},
		{"content only", map[string]string{"a": "1 644 0:0 t2", "b": "2 644 0:0 t1", "c": "3 644 0:0 t1"},
			[]string{"file a content changed"}},
		{"nothing visible", prev, []string{"source content changed"}},
	}
	for _, c := range cases {
		if got := fileChanges(prev, c.cur); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	host := platformString(hostPlatform())
	for _, c := range []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"linux/amd64", "linux/amd64", ""},
		{"linux/amd64,linux/arm64", "linux/amd64,linux/arm64", ""},
		{"linux/arm64/v8, linux/aarch64", "linux/arm64", ""},
		{"linux/arm", "linux/arm/v7", ""},
		{"linux/arm/v6,linux/armhf", "linux/arm/v6,linux/arm/v7", ""},
		{"linux/x86_64", "linux/amd64", ""},
		{"arm64", "linux/arm64", ""},
		{"local", host, ""},
		{"linux/s390x", "linux/s390x", ""},
		{"windows/amd64", "", "builds linux images only"},
		{"linux/amd46", "", `unknown architecture "amd46"`},
		{"linuxx/amd64", "", `unknown operating system "linuxx"`},
		{"linux", "", "missing architecture"},
		{"not a platform/x/y/z", "", "want os/arch[/variant]"},
	} {
		ps, err := ParsePlatforms(c.in)
		var got []string
		for _, p := range ps {
			got = append(got, platformString(p))
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePlatforms(%q) error = %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("ParsePlatforms(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

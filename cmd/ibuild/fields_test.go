package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	cases := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{"type=oci,dest=out.tar", map[string]string{"type": "oci", "dest": "out.tar"}, ""},
		{`type=local,"dest=a,b"`, map[string]string{"type": "local", "dest": "a,b"}, ""},
		{"dest=a=b", map[string]string{"dest": "a=b"}, ""},
		{"dest=", map[string]string{"dest": ""}, ""},
		{"type=oci,type=docker", map[string]string{"type": "docker"}, ""},
		{"type=oci,dest", nil, `"dest" is not KEY=VALUE`},
		{"type=oci,color=red", nil, `unknown key "color"`},
		{"", nil, "invalid --output"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseFields("--output", c.in, "type", "dest")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "--output") {
					t.Fatalf("err = %v, want one naming --output and containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestFlagParsers: --output, --secret and --cache-from/--cache-to share
// parseFields, so they accept and refuse the same shapes.
func TestFlagParsers(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	outs, err := parseOutputs([]string{"type=oci,dest=o.tar", `type=local,"dest=d,1"`, "plain-dir"})
	if err != nil || len(outs) != 3 || outs[1].dest != "d,1" || outs[2] != (output{typ: "local", dest: "plain-dir"}) {
		t.Errorf("outputs %+v, %v", outs, err)
	}
	sec, err := parseSecrets([]string{"id=a,src=" + secret, "type=file,id=b,source=" + secret})
	if err != nil || sec["a"] != secret || sec["b"] != secret {
		t.Errorf("secrets %v, %v", sec, err)
	}
	spec, err := parseCacheSpec("--cache-to", "type=local,dest=/c,mode=max", "dest")
	if err != nil || spec.typ != "local" || spec.dir != "/c" {
		t.Errorf("cache spec %+v, %v", spec, err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"output bare key", second(parseOutputs([]string{"type=oci,dest"})), `invalid --output "type=oci,dest": "dest" is not KEY=VALUE`},
		{"output unknown key", second(parseOutputs([]string{"type=oci,dest=x,foo=1"})), `unknown key "foo"`},
		{"secret bare key", second(parseSecrets([]string{"id=a,src"})), `invalid --secret "id=a,src": "src" is not KEY=VALUE`},
		{"secret type", second(parseSecrets([]string{"type=env,id=a,src=x"})), "only type=file"},
		{"cache-from mode", second(parseCacheSpec("--cache-from", "type=local,src=/c,mode=max", "src")), `invalid --cache-from "type=local,src=/c,mode=max": unknown key "mode"`},
		{"cache-to bare key", second(parseCacheSpec("--cache-to", "type=local,dest", "dest")), `"dest" is not KEY=VALUE`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

package registry

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

// writeConfig writes configDir/config.json.
func writeConfig(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func resolve(t *testing.T, kc authn.Keychain, ref string) *authn.AuthConfig {
	t.Helper()
	r, err := ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(r.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfigKeychain(t *testing.T) {
	dir := t.TempDir()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	writeConfig(t, dir, `{"auths": {
		"https://index.docker.io/v1/": {"auth": "`+b64("hubuser:hubpass")+`"},
		"reg.example:5000": {"auth": "`+b64("reguser:regpass")+`"},
		"reg.example:5000/special": {"auth": "`+b64("special:sp")+`"}
	}}`)
	kc := ConfigKeychain(dir)
	for _, tc := range []struct {
		ref, user string
	}{
		{"alpine", "hubuser"},
		{"docker.io/me/app", "hubuser"},
		{"reg.example:5000/app", "reguser"},
		{"reg.example:5000/special", "special"},
		{"other.example/app", ""},
	} {
		if got := resolve(t, kc, tc.ref); got.Username != tc.user {
			t.Errorf("user for %s = %q, want %q", tc.ref, got.Username, tc.user)
		}
	}
	// A config dir without config.json means anonymous.
	if got := resolve(t, ConfigKeychain(t.TempDir()), "alpine"); got.Username != "" {
		t.Errorf("empty dir resolved to %q", got.Username)
	}
	// A broken config.json is an error naming the directory.
	bad := t.TempDir()
	writeConfig(t, bad, "{not json")
	r, _ := ParseReference("alpine")
	if _, err := ConfigKeychain(bad).Resolve(r.Context()); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken config: err = %v, want one naming %s", err, bad)
	}
}

// fakeHelper installs docker-credential-fake, a credential helper that keeps
// one credential in a file, on PATH.
func fakeHelper(t *testing.T) (store string) {
	t.Helper()
	bin := t.TempDir()
	store = filepath.Join(bin, "store.json")
	script := `#!/bin/sh
case "$1" in
store) cat > ` + store + ` ;;
get) cat > /dev/null; if [ -f ` + store + ` ]; then cat ` + store + `; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) cat > /dev/null; rm -f ` + store + ` ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return store
}

func TestLoginWithCredentialHelper(t *testing.T) {
	ctx := context.Background()
	host, _ := memRegistry(t)
	dir := t.TempDir()
	writeConfig(t, dir, `{"auths": {}, "credHelpers": {"`+host+`": "fake"}}`)
	store := fakeHelper(t)
	if err := Login(ctx, dir, host, "helperuser", "helperpass"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte("helperuser:helperpass"))) {
		t.Errorf("credentials written to config.json despite the helper:\n%s", raw)
	}
	stored, err := os.ReadFile(store)
	if err != nil || !strings.Contains(string(stored), "helperpass") {
		t.Fatalf("helper did not receive the credentials: %v %s", err, stored)
	}
	if got := resolve(t, ConfigKeychain(dir), host+"/app"); got.Username != "helperuser" || got.Password != "helperpass" {
		t.Errorf("keychain resolved %q/%q through the helper", got.Username, got.Password)
	}
	if err := Logout(dir, host); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("logout did not erase the helper's credential (stat: %v)", err)
	}
}

func TestLoginDockerHubKey(t *testing.T) {
	// Docker Hub credentials live under docker's historical key.
	for _, reg := range []string{"", "docker.io", "index.docker.io", "https://index.docker.io/v1/"} {
		o, err := makeOptions()
		if err != nil {
			t.Fatal(err)
		}
		r, err := o.registry(reg)
		if err != nil {
			t.Fatal(err)
		}
		if got := authKey(r.RegistryStr()); got != authn.DefaultAuthKey {
			t.Errorf("authKey for %q = %q, want %q", reg, got, authn.DefaultAuthKey)
		}
	}
}

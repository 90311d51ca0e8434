package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

func TestRealRegistryRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	img := randomImage(t, 2)
	ref := host + "/team/app:v1"
	if err := Push(ctx, img, ref, anon); err != nil {
		t.Fatal(err)
	}
	pullValid(ctx, t, ref, img, anon)
	// Re-push of the same image succeeds (every blob exists).
	if err := Push(ctx, img, host+"/team/app:v2", anon); err != nil {
		t.Fatal(err)
	}
}

func TestRealRegistryAuth(t *testing.T) {
	ctx := context.Background()
	const user, password = "builder", "s3cret-Pa55word"
	host := registrytest.Start(t, registrytest.WithBasicAuth(user, password))
	img := randomImage(t, 1)
	ref := host + "/private/app:1"
	configDir := t.TempDir()

	t.Run("anonymous push is refused", func(t *testing.T) {
		err := Push(ctx, img, ref, WithKeychain(ConfigKeychain(configDir)))
		assertAuthError(t, err, ref, password)
	})
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-Pa55word"
		err := Login(ctx, configDir, host, user, wrong)
		assertAuthError(t, err, host, wrong)
		if _, serr := os.Stat(filepath.Join(configDir, "config.json")); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("failed login wrote config.json (stat: %v)", serr)
		}
	})
	t.Run("login then push and pull", func(t *testing.T) {
		if err := Login(ctx, configDir, host, user, password); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(configDir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cf struct {
			Auths map[string]struct{ Auth string }
		}
		if err := json.Unmarshal(raw, &cf); err != nil {
			t.Fatal(err)
		}
		if cf.Auths[host].Auth == "" {
			t.Fatalf("config.json has no auth for %s: %s", host, raw)
		}
		kc := WithKeychain(ConfigKeychain(configDir))
		if err := Push(ctx, img, ref, kc); err != nil {
			t.Fatal(err)
		}
		pullValid(ctx, t, ref, img, kc)
	})
	t.Run("logout", func(t *testing.T) {
		if err := Logout(configDir, host); err != nil {
			t.Fatal(err)
		}
		_, err := Image(ctx, ref, WithKeychain(ConfigKeychain(configDir)))
		assertAuthError(t, err, ref, password)
		if err := Logout(configDir, host); err != nil {
			t.Errorf("second logout: %v", err)
		}
	})
}

// assertAuthError checks err is a non-temporary 401 *Error naming what,
// without the secret.
func assertAuthError(t *testing.T, err error, what, secret string) {
	t.Helper()
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if re.StatusCode() != http.StatusUnauthorized || re.Temporary {
		t.Errorf("status %d temporary %v, want 401 and not temporary (%v)", re.StatusCode(), re.Temporary, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, what) {
		t.Errorf("error %q does not name %q", msg, what)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error %q contains the password", msg)
	}
	if !strings.Contains(strings.ToLower(msg), "unauthorized") {
		t.Errorf("error %q does not say unauthorized", msg)
	}
	t.Logf("error: %v", err)
}

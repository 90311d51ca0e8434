package build

import (
	"encoding/json"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestHealthStartInterval checks that HEALTHCHECK --start-interval, which
// go-containerregistry's config type drops, is written into the config
// and read back from a base's config (conformance case
// meta-healthcheck-start-interval).
func TestHealthStartInterval(t *testing.T) {
	cf := v1.ConfigFile{Config: v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Minute, Retries: 3}}}
	raw, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := rawHealthStartInterval(raw); err != nil || d != 0 {
		t.Fatalf("before: StartInterval = %v, %v; want 0", d, err)
	}
	out, err := withHealthStartInterval(raw, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := rawHealthStartInterval(out); err != nil || d != 2*time.Second {
		t.Errorf("after: StartInterval = %v, %v; want 2s", d, err)
	}
	var back v1.ConfigFile
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if h := back.Config.Healthcheck; h == nil || h.Interval != time.Minute || h.Retries != 3 || len(h.Test) != 2 {
		t.Errorf("other healthcheck fields changed: %+v", h)
	}
	again, _ := withHealthStartInterval(raw, 2*time.Second)
	if string(again) != string(out) {
		t.Errorf("not deterministic:\n%s\n%s", out, again)
	}
}

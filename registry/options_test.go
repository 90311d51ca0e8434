package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
)

// TestOptionErrors: an invalid option value is the error of the call it is
// given to, not silently ignored.
func TestOptionErrors(t *testing.T) {
	cases := []struct {
		name    string
		opt     Option
		wantErr string // "" = valid
	}{
		{"jobs 0", WithJobs(0), "parallel transfers 0"},
		{"jobs -1", WithJobs(-1), "parallel transfers -1"},
		{"jobs 8", WithJobs(8), ""},
		{"bad CIDR", WithInsecureRegistries("10.0.0.0/33"), `insecure registry "10.0.0.0/33"`},
		{"path, not CIDR", WithInsecureRegistries("reg.example/v2"), `insecure registry "reg.example/v2"`},
		{"empty host", WithInsecureRegistries(""), "empty host"},
		{"hosts and CIDR", WithInsecureRegistries("reg.example:5000", "10.1.0.0/16", "fd00::/8"), ""},
		{"no attempts", WithRetry(0, time.Second), "0 attempts"},
		{"negative wait", WithRetry(3, -time.Second), "retry policy"},
		{"retry", WithRetry(1, 0), ""},
		{"chunk 0", withChunkSize(0), "chunk size 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := makeOptions(c.opt)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("valid option: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
			}
			// Every entry point fails with it before any request.
			ctx := context.Background()
			if _, err := ParseReference("example.com/a:1", c.opt); err == nil {
				t.Error("ParseReference accepted the option")
			}
			if _, err := Image(ctx, "127.0.0.1:1/a:1", c.opt); err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Image: %v", err)
			}
			if _, err := Digest(ctx, "127.0.0.1:1/a:1", c.opt); err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Digest: %v", err)
			}
			// Push still closes its progress channel.
			ch := make(chan v1.Update, 4)
			if err := Push(ctx, empty.Image, "127.0.0.1:1/a:1", WithProgress(ch), c.opt); err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Push: %v", err)
			}
			for range ch {
			}
		})
	}
}

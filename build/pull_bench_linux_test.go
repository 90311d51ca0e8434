package build

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// BenchmarkPullExtract pulls the Debian minbase base (one gzip layer, from
// a registry on 127.0.0.1) into an empty store and extracts its snapshot:
// "then" stores the blob (WriteImage) and extracts it from the store
// (Snapshot) afterwards, as builds did before; "stream" does both in one
// pass (PullImage). load1 is the load average at the end: the machine may
// be shared.
func BenchmarkPullExtract(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: needs root (snapshots hold foreign owners and devices)")
	}
	ctx := context.Background()
	l, err := tarball.LayerFromFile(testbase.Debian(b))
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		b.Fatal(err)
	}
	ref := registrytest.Start(b) + "/bench/debian:1"
	if err := registry.Push(ctx, img, ref); err != nil {
		b.Fatal(err)
	}
	infos := pullTestInfos(b, img)
	for _, mode := range []string{"then", "stream"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				store, err := cache.Open(ctx, b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				remote, err := registry.Image(ctx, ref)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if mode == "stream" {
					_, err = store.PullImage(ctx, remote)
				} else {
					_, err = store.WriteImage(ctx, remote)
				}
				if err != nil {
					b.Fatal(err)
				}
				for _, info := range infos {
					if _, err := store.Snapshot(ctx, info); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				store.Close()
				b.StartTimer()
			}
			raw, _ := os.ReadFile("/proc/loadavg")
			load, _ := strconv.ParseFloat(strings.Fields(string(raw) + " 0")[0], 64)
			b.ReportMetric(load, "load1")
		})
	}
}

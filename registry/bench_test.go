package registry

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// BenchmarkRepushExisting20Layers re-pushes an image whose 20 layers (and
// config) the registry already has, each time to a new tag: one manifest
// HEAD, one HEAD per blob and the manifest PUT. (A re-push to the same tag
// stops after the manifest HEAD.)
func BenchmarkRepushExisting20Layers(b *testing.B) {
	ctx := context.Background()
	host := registrytest.Start(b)
	p := registrytest.FaultProxy(b, host)
	img := randomImage(b, 20)
	ref := p.Host + "/bench/app:seed"
	if err := Push(ctx, img, ref, anon); err != nil {
		b.Fatal(err)
	}
	before := len(p.Requests())
	n := 0
	for b.Loop() {
		n++
		if err := Push(ctx, img, fmt.Sprintf("%s/bench/app:%d", p.Host, n), anon); err != nil {
			b.Fatal(err)
		}
	}
	heads := 0
	for _, r := range p.Requests()[before:] {
		if strings.HasPrefix(r, "HEAD ") && strings.Contains(r, "/blobs/") {
			heads++
		}
	}
	b.ReportMetric(float64(heads)/float64(n), "blob-HEADs/op")
}

package registry

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// blobsSize is the sum of the sizes of img's layers and config.
func blobsSize(t *testing.T, img v1.Image) int64 {
	t.Helper()
	blobs, err := imageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range blobs {
		s, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		n += s
	}
	return n
}

func TestPushResumesDroppedUpload(t *testing.T) {
	const chunk = 256
	ctx := context.Background()
	host := registrytest.Start(t)
	// The first chunk of the first blob goes through; the second is cut
	// off halfway, so the session holds exactly one chunk.
	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.DropMidUpload, Method: http.MethodPatch, Skip: 1})
	img := randomImage(t, 1)
	layers, _ := img.Layers()
	if size, _ := layers[0].Size(); size < 3*chunk {
		t.Fatalf("layer of %d bytes is too small for the test", size)
	}
	var ev events
	ref := p.Host + "/resume/app:1"
	if err := Push(ctx, img, ref, fast, WithJobs(1), withChunkSize(chunk), WithBlobProgress(ev.add)); err != nil {
		t.Fatalf("push: %v", err)
	}
	if p.Injected(registrytest.DropMidUpload) != 1 {
		t.Fatalf("upload was not dropped; requests: %v", p.Requests())
	}
	reqs := p.Requests()
	resumed := fmt.Sprintf("%d-%d", chunk, 2*chunk-1)
	var gets, posts, atSecond int
	for _, r := range reqs {
		switch {
		case strings.HasPrefix(r, "GET ") && strings.Contains(r, "/blobs/uploads/"):
			gets++
		case strings.HasPrefix(r, "POST "):
			posts++
		case strings.HasPrefix(r, "PATCH ") && strings.HasSuffix(r, " "+resumed):
			atSecond++
		}
	}
	if gets == 0 {
		t.Errorf("no GET of the upload status; requests: %v", reqs)
	}
	if posts != 2 || atSecond != 2 {
		t.Errorf("%d sessions started, %d PATCHes of bytes %s; want 2 sessions (layer, config) and the second chunk sent twice: %v", posts, atSecond, resumed, reqs)
	}
	total := blobsSize(t, img)
	if got := p.UploadBytes(); got >= total+chunk || got < total {
		t.Errorf("proxy received %d upload bytes for %d bytes of blobs: want one half chunk more at most (no restart)", got, total)
	}
	d, _ := layers[0].Digest()
	if !ev.has(BlobPushed, d) {
		t.Errorf("layer %s not reported pushed: %v", d, ev.by)
	}
	got, err := pullAll(ctx, t, ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSameDigest(t, got, img)
	if i := slices.IndexFunc(reqs, func(r string) bool { return strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") }); i != len(reqs)-1 {
		t.Errorf("manifest PUT is request %d of %d, want the last: %v", i, len(reqs), reqs)
	}
}

func TestPushRestartsWhenSessionIsGone(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	// A 500 on every GET of an upload session: status is unknown, so the
	// blob starts over in a new session and still arrives.
	p := registrytest.FaultProxy(t, host,
		registrytest.Fault{Kind: registrytest.DropMidUpload, Method: http.MethodPatch},
		registrytest.Fault{Kind: registrytest.Status500, Method: http.MethodGet, Path: "/blobs/uploads/", Persistent: true})
	img := randomImage(t, 1)
	ref := p.Host + "/restart/app:1"
	if err := Push(ctx, img, ref, fast, WithJobs(1), withChunkSize(512)); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := pullAll(ctx, t, ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSameDigest(t, got, img)
}

// TestPushReportsChunks: an upload in chunks reports, after each chunk but
// the last, how many bytes the registry holds (BlobProgress), in order.
func TestPushReportsChunks(t *testing.T) {
	const chunk = 256
	host := registrytest.Start(t)
	img := randomImage(t, 1)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	var mu sync.Mutex
	var sent []int64
	progress := WithBlobProgress(func(e BlobEvent) {
		if e.State == BlobProgress && e.Digest == d {
			mu.Lock()
			sent = append(sent, e.Sent)
			mu.Unlock()
			if e.Size != size {
				t.Errorf("progress event size %d, want %d", e.Size, size)
			}
		}
	})
	if err := Push(context.Background(), img, host+"/chunks/app:1", fast, WithJobs(1), withChunkSize(chunk), progress); err != nil {
		t.Fatalf("push: %v", err)
	}
	var want []int64
	for off := int64(chunk); off < size; off += chunk {
		want = append(want, off)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(want) == 0 || !slices.Equal(sent, want) {
		t.Errorf("progress of a %d-byte layer in %d-byte chunks: %v, want %v", size, chunk, sent, want)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/term"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/registry"
)

// pushTags pushes the built image to every tag (--push) with media types
// mt and returns the pushed manifest's digest. Docker types cannot describe
// zstd layers: the image is then pushed with OCI types and a warning, as
// BuildKit does. Later tags may mount blobs from earlier ones on the same
// registry. Unless quiet, each push is reported on stderr as BuildKit's
// "pushing layers" / "pushing manifest for REF@DIGEST" lines, with one
// line per blob redrawn in place when stderr is a terminal. The layers of
// steps reused from a --cache-from registry (mountFrom) are mounted from
// the cache's repository when it is on the destination's registry, not
// uploaded.
//
// idx, when not nil, is the index of the image and its attestations
// (imageIndex): it is pushed instead, with OCI media types (BuildKit too
// switches to them for attestations), and its digest returned.
func pushTags(ctx context.Context, stderr io.Writer, quiet bool, res *build.Result, idx v1.ImageIndex, tags, mountFrom []string, opts []registry.Option, mt registry.MediaTypes) (v1.Hash, error) {
	if idx != nil {
		if mt == registry.DockerTypes {
			fmt.Fprintln(stderr, "WARNING: pushing with OCI media types: attestations need an OCI index")
		}
		return pushIndexTags(ctx, stderr, quiet, idx, tags, mountFrom, opts)
	}
	img, err := registry.WithMediaTypes(res.Image, mt)
	if err != nil && mt == registry.DockerTypes {
		fmt.Fprintf(stderr, "WARNING: pushing with OCI media types: %v\n", err)
		img, err = registry.WithMediaTypes(res.Image, registry.OCITypes)
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("pushing: %w", err)
	}
	dig, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("pushing: %w", err)
	}
	return dig, pushEach(ctx, stderr, quiet, dig, tags, mountFrom, opts, func(ctx context.Context, ref string, o ...registry.Option) error {
		return registry.Push(ctx, img, ref, o...)
	})
}

// pushEach pushes to every tag with push, reporting each push unless
// quiet. Later tags may mount blobs from earlier ones, then from mountFrom.
func pushEach(ctx context.Context, stderr io.Writer, quiet bool, dig v1.Hash, tags, mountFrom []string, opts []registry.Option,
	push func(context.Context, string, ...registry.Option) error) error {
	for i, t := range tags {
		o := append(append([]registry.Option(nil), opts...), registry.WithMountFrom(append(tags[:i:i], mountFrom...)...))
		var d *pushDisplay
		if !quiet {
			d = newPushDisplay(stderr, registry.FamiliarName(t))
			o = append(o, registry.WithBlobProgress(d.blob))
			if d.tty {
				ch := make(chan v1.Update, 16)
				o = append(o, registry.WithProgress(ch))
				d.updates.Add(1)
				go d.bytes(ch)
			}
		}
		err := push(ctx, t, o...)
		if d != nil {
			d.finish(dig, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pushIndexTags pushes idx to every tag, reported as pushTags reports an
// image.
func pushIndexTags(ctx context.Context, stderr io.Writer, quiet bool, idx v1.ImageIndex, tags, mountFrom []string, opts []registry.Option) (v1.Hash, error) {
	dig, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("pushing: %w", err)
	}
	return dig, pushEach(ctx, stderr, quiet, dig, tags, mountFrom, opts, func(ctx context.Context, ref string, o ...registry.Option) error {
		return registry.PushIndex(ctx, idx, ref, o...)
	})
}

// pushDisplay shows one push: plain lines, or on a terminal a block of one
// line per blob redrawn in place (at most ten times a second).
type pushDisplay struct {
	out   io.Writer
	ref   string
	tty   bool
	start time.Time

	mu          sync.Mutex
	order       []v1.Hash
	blobs       map[v1.Hash]string // state line per blob
	done, total int64
	drawn       int
	lastDraw    time.Time
	updates     sync.WaitGroup
}

func newPushDisplay(out io.Writer, ref string) *pushDisplay {
	d := &pushDisplay{out: out, ref: ref, start: time.Now(), blobs: map[v1.Hash]string{}}
	if f, ok := out.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		d.tty = true
	}
	if !d.tty {
		fmt.Fprintf(out, "pushing layers for %s\n", ref)
	}
	return d
}

// blob records a registry.BlobEvent.
func (d *pushDisplay) blob(e registry.BlobEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var state string
	switch e.State {
	case registry.BlobUploading:
		state = "uploading " + units.HumanSize(float64(e.Size))
		if e.Attempt > 1 {
			state = fmt.Sprintf("retrying upload (attempt %d)", e.Attempt)
		}
	case registry.BlobProgress:
		if !d.tty {
			return // plain output: the start and the end of each upload
		}
		state = fmt.Sprintf("uploading %s / %s", units.HumanSize(float64(e.Sent)), units.HumanSize(float64(e.Size)))
	case registry.BlobPushed:
		state = "pushed " + units.HumanSize(float64(e.Size))
	case registry.BlobExists:
		state = "already exists"
	case registry.BlobMounted:
		state = "mounted from another repository"
	default:
		return
	}
	if _, ok := d.blobs[e.Digest]; !ok {
		d.order = append(d.order, e.Digest)
	}
	d.blobs[e.Digest] = state
	if !d.tty {
		fmt.Fprintf(d.out, "pushing %s: %s\n", e.Digest, state)
		return
	}
	d.redraw(false)
}

// bytes follows the push's byte counts until the channel closes.
func (d *pushDisplay) bytes(ch <-chan v1.Update) {
	defer d.updates.Done()
	for u := range ch {
		d.mu.Lock()
		d.done, d.total = u.Complete, u.Total
		d.redraw(false)
		d.mu.Unlock()
	}
}

// finish prints the pushed manifest (or the failure) and the final state.
func (d *pushDisplay) finish(dig v1.Hash, err error) {
	d.updates.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tty {
		d.redraw(true)
	}
	if err == nil {
		fmt.Fprintf(d.out, "pushing manifest for %s@%s %.1fs done\n", d.ref, dig, time.Since(d.start).Seconds())
	}
}

// redraw rewrites the block; unless final, at most every 100 ms.
func (d *pushDisplay) redraw(final bool) {
	if !final && time.Since(d.lastDraw) < 100*time.Millisecond {
		return
	}
	d.lastDraw = time.Now()
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	}
	head := fmt.Sprintf("[+] Pushing %s %.1fs", d.ref, time.Since(d.start).Seconds())
	if d.total > 0 {
		head += fmt.Sprintf(" (%s / %s)", units.HumanSize(float64(d.done)), units.HumanSize(float64(d.total)))
	}
	lines := []string{head}
	for _, h := range d.order {
		lines = append(lines, fmt.Sprintf(" => pushing %s: %s", h, d.blobs[h]))
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
	}
	io.WriteString(d.out, b.String())
	d.drawn = len(lines)
}

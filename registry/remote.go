package registry

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image returns the image ref names in its registry. If ref names an index
// (a multi-platform image), the manifest for the platform of [WithPlatform]
// (default: the host) is chosen as docker does (see [MatchPlatform]).
//
// Only the manifest (and index) are fetched here; the config and layers are
// fetched lazily when read, and go-containerregistry verifies each blob
// against its digest while it is read, so a corrupt blob surfaces as an error
// from the layer's reader. Errors returned here are *[Error] values naming
// ref. A layer read that a dropped connection interrupts is retried
// ([WithRetry]) by reopening the blob, until ctx is done.
func Image(ctx context.Context, ref string, opts ...Option) (v1.Image, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	r, err := o.parse(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, o.remote(ctx)...)
	if err != nil {
		return nil, newError("pulling", ref, "", err)
	}
	digest := desc.Digest.String()
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err == nil {
			err = checkConfigSize(img, o.configLimit())
		}
		if err != nil {
			return nil, newError("pulling", ref, digest, err)
		}
		return &retryingImage{Image: img, ctx: ctx, retry: o.retry}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, newError("pulling", ref, digest, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, newError("pulling", ref, digest, err)
	}
	child, err := MatchPlatform(im.Manifests, o.platform)
	if err != nil {
		return nil, newError("pulling", ref, digest, err)
	}
	img, err := idx.Image(child.Digest)
	if err == nil {
		err = checkConfigSize(img, o.configLimit())
	}
	if err != nil {
		return nil, newError("pulling", ref, child.Digest.String(), err)
	}
	return &retryingImage{Image: img, ctx: ctx, retry: o.retry}, nil
}

// Push writes img to ref. Blobs the registry already has are skipped (one
// HEAD each), blobs of [WithMountFrom] images are mounted where the registry
// allows, missing blobs are uploaded in parallel ([WithJobs]) and reported
// per blob ([WithBlobProgress]). Uploads go in chunks; after a dropped
// connection or a temporary error ([WithRetry]) an upload resumes from the
// offset the registry reports for its session. The manifest is PUT last,
// only after every blob is committed, so a failed push leaves no tag.
// Errors are *[Error] values naming ref and the image's digest. A progress
// channel ([WithProgress]) is closed when Push returns, after a final update
// carrying the error if the push failed; it must be drained concurrently.
func Push(ctx context.Context, img v1.Image, ref string, opts ...Option) (err error) {
	o, err := makeOptions(opts...)
	prog := &progress{ch: o.progress}
	defer func() { prog.close(err) }()
	if err != nil {
		return err
	}
	r, err := o.parse(ref)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		digest := ""
		if d, derr := img.Digest(); derr == nil {
			digest = d.String()
		}
		return newError("pushing", ref, digest, err)
	}
	blobs, err := imageBlobs(img)
	if err != nil {
		return fail(err)
	}
	if err := pushBlobs(ctx, o, r, blobs, prog); err != nil {
		return fail(err)
	}
	mo := *o
	mo.progress = nil // reported here, not by go-containerregistry
	if err := remote.Put(r, img, mo.remote(ctx)...); err != nil {
		return fail(err)
	}
	return nil
}

// pushBlobs makes sure every blob is in r's repository: one HEAD each,
// mounts where [WithMountFrom] allows, parallel resumable uploads.
func pushBlobs(ctx context.Context, o *options, r name.Reference, blobs []v1.Layer, prog *progress) error {
	for _, l := range blobs {
		n, err := l.Size()
		if err != nil {
			return err
		}
		prog.total += n
	}
	rep := &blobReporter{fn: o.blobProgress, attempts: map[v1.Hash]int{}}
	u, err := newUploader(ctx, o, r, rep, prog)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for _, l := range blobs {
		g.Go(func() error { return u.blob(gctx, l) })
	}
	return g.Wait()
}

// Digest returns the digest of the manifest ref currently names (for an
// index, the index's own digest), with one HEAD or GET request.
func Digest(ctx context.Context, ref string, opts ...Option) (v1.Hash, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return v1.Hash{}, err
	}
	r, err := o.parse(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	desc, err := remote.Head(r, o.remote(ctx)...)
	if err != nil {
		return v1.Hash{}, newError("resolving", ref, "", err)
	}
	return desc.Digest, nil
}

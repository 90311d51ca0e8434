package cache

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ibuild/ibuild/layer"
)

// PullImage is WriteImage for a base image about to be built on: every
// layer blob the store lacks is extracted into its snapshot (see Snapshot)
// while it downloads, the layers concurrently (at most maxParallelLayers
// at a time), each as soon as its bytes arrive. The download is teed into
// the verified ingest and the extractor; the blob is committed only if its
// size and digest match the manifest, and the snapshot is renamed into
// snapshots/ only after that and the diffID check, and discarded otherwise.
// An extraction that fails on a blob that verifies leaves the blob stored
// and no snapshot: Snapshot extracts it again and reports the error. It
// returns the manifest descriptor, as WriteImage does.
func (s *Store) PullImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading manifest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading config: %w", err)
	}
	if len(cf.RootFS.DiffIDs) == len(m.Layers) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(maxParallelLayers)
		seen := map[v1.Hash]bool{}
		for i, d := range m.Layers {
			if seen[d.Digest] || s.checkBlob(d.Digest, d.Size) {
				continue
			}
			seen[d.Digest] = true
			info := layer.Info{Digest: d.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: d.Size, MediaType: d.MediaType}
			g.Go(func() error { return s.pullLayer(gctx, img, d, info) })
		}
		if err := g.Wait(); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing image: %w", err)
		}
	}
	// The layers are in (WriteImage does not read them again); it writes
	// the config and the manifest, and rejects a config whose diff_ids do
	// not match the layers when the image is read.
	return s.WriteImage(ctx, img)
}

// pullLayer downloads one layer blob into the store and, unless its
// snapshot exists, extracts it on the way.
func (s *Store) pullLayer(ctx context.Context, img v1.Image, d v1.Descriptor, info layer.Info) error {
	rc, err := openLayer(img, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.FetchLayer(ctx, rc, info, true)
}

// FetchLayer stores the compressed blob of info read from r, verified as
// WriteBlob does. With extract, and unless the layer's snapshot exists,
// the snapshot is extracted from the same stream while it is read, as
// PullImage does for a base image's layers: it becomes visible only once
// the blob and its diffID check out. An extraction that fails on a blob
// that verifies leaves the blob stored and no snapshot (Snapshot extracts
// it again and reports the error).
func (s *Store) FetchLayer(ctx context.Context, r io.Reader, info layer.Info, extract bool) error {
	d := v1.Descriptor{MediaType: info.MediaType, Digest: info.Digest, Size: info.Size}
	write := func() error {
		_, err := s.WriteBlob(ctx, r, d)
		return err
	}
	if !extract {
		return write()
	}
	final, err := s.snapshotPath(info.DiffID)
	if err != nil || isDir(final) {
		return write()
	}
	release, err := s.lockSnapshot(ctx, info.DiffID.Hex)
	if err != nil {
		return err
	}
	defer release()
	if isDir(final) {
		return write()
	}
	tmp, cleanup, err := s.snapshotTemp()
	if err != nil {
		return write()
	}
	defer cleanup()

	p := newChunkPipe()
	extracted := make(chan error, 1)
	go func() {
		err := s.extractFrom(ctx, p, info, tmp)
		p.stop() // the download goes on without it
		extracted <- err
	}()
	_, werr := s.WriteBlob(ctx, io.TeeReader(r, p), d)
	p.closeWrite(werr)
	xerr := <-extracted
	if werr != nil {
		return werr
	}
	if xerr != nil {
		// The blob is good; Snapshot extracts it again from the store and
		// reports what is wrong with it, in its own words.
		return ctx.Err()
	}
	if err := commitSnapshot(tmp, final); err != nil {
		return fmt.Errorf("extracting layer %s: %w", d.Digest, err)
	}
	s.markSnapshotUsed(info.DiffID.Hex)
	return nil
}

// chunkPipeLen bounds what a chunkPipe holds: the download runs at most
// this many reads (32 KiB each, io.Copy's) ahead of the extractor.
const chunkPipeLen = 64

// chunkPipe passes copies of what is written to it to its reader through a
// queue, so that the download and the extractor each go at their own pace
// (through an io.Pipe they took turns every 4 KiB, the decompressor's
// read size: the stream took longer than download then extraction). Write
// never fails: once the reader has stopped, writes are dropped, and the
// download goes on into the ingest.
type chunkPipe struct {
	queue   chan []byte
	stopped chan struct{}
	cur     []byte
	err     error // the writer's error (io.EOF on success), sent after the last chunk
	errc    chan error
}

func newChunkPipe() *chunkPipe {
	return &chunkPipe{queue: make(chan []byte, chunkPipeLen), stopped: make(chan struct{}), errc: make(chan error, 1)}
}

// Write implements io.Writer for the download.
func (p *chunkPipe) Write(b []byte) (int, error) {
	select {
	case p.queue <- append([]byte(nil), b...):
	case <-p.stopped:
	}
	return len(b), nil
}

// closeWrite ends the stream: the reader gets err, or io.EOF if nil, after
// what was written.
func (p *chunkPipe) closeWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.errc <- err
	close(p.queue)
}

// stop tells the writer that the reader is gone.
func (p *chunkPipe) stop() { close(p.stopped) }

// Read implements io.Reader for the extractor.
func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		c, ok := <-p.queue
		if !ok {
			p.err = <-p.errc
			return 0, p.err
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

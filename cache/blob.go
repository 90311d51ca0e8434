package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/atomicfile"
)

// blobPath returns the path of a blob, rejecting digests that are not
// well-formed sha256 digests (so that a hash can never name a path outside
// blobs/).
func (s *Store) blobPath(h v1.Hash) (string, error) {
	if err := checkHash(h); err != nil {
		return "", err
	}
	return s.path(blobsDir, h.Algorithm, h.Hex), nil
}

// checkHash reports whether h is a well-formed sha256 digest.
func checkHash(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != sha256.Size*2 {
		return fmt.Errorf("invalid digest %q", h.String())
	}
	for _, c := range h.Hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("invalid digest %q", h.String())
		}
	}
	return nil
}

// HasBlob reports whether the store holds a blob with digest h. It does not
// verify the content; reading through Blob does.
func (s *Store) HasBlob(h v1.Hash) bool {
	_, ok := s.blobSize(h)
	return ok
}

// blobSize returns the size of a stored blob.
func (s *Store) blobSize(h v1.Hash) (int64, bool) {
	p, err := s.blobPath(h)
	if err != nil {
		return 0, false
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// WriteBlob streams r into the ingest area and commits it under its digest.
//
// When want.Digest is set, the content must hash to it, and when want.Size
// is also positive, the content must be exactly that long (at most
// want.Size+1 bytes are read, so a lying stream cannot fill the disk). A zero
// Descriptor accepts any content and computes the digest. Nothing reaches
// blobs/ unless it matched, and the ingest file is removed on any failure.
//
// If want.Digest is set and an intact blob of that digest (and size, when
// given) already exists, r is not read at all; a corrupt one is evicted
// with a warning and replaced. Otherwise r is read to EOF. The
// returned descriptor is want with Digest and Size filled in.
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, want v1.Descriptor) (v1.Descriptor, error) {
	got := want
	if want.Digest != (v1.Hash{}) {
		if err := checkHash(want.Digest); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing blob: %w", err)
		}
		if s.checkBlob(want.Digest, want.Size) {
			got.Size, _ = s.blobSize(want.Digest)
			return got, nil
		}
	}
	in, err := s.newIngest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: %w", want.Digest, err)
	}
	defer in.abort()
	src := r
	if want.Size > 0 {
		src = io.LimitReader(r, want.Size+1)
	}
	if _, err := io.Copy(in, ctxReader(ctx, src)); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: %w", want.Digest, err)
	}
	got.Size, got.Digest = in.n, in.digest()
	if want.Size > 0 && got.Size != want.Size {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: size mismatch: got %d bytes, want %d", want.Digest, got.Size, want.Size)
	}
	if want.Digest != (v1.Hash{}) && got.Digest != want.Digest {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: digest mismatch: got %s", want.Digest, got.Digest)
	}
	if err := in.commit(got.Digest); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: %w", got.Digest, err)
	}
	return got, nil
}

// Blob opens the blob with digest h. The reader hashes what it delivers;
// at EOF it returns an error instead of io.EOF if the digest does not match,
// and removes the corrupt blob. A missing blob is an error wrapping
// ErrNotFound.
func (s *Store) Blob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.openBlob(h)
}

func (s *Store) openBlob(h v1.Hash) (io.ReadCloser, error) {
	p, err := s.blobPath(h)
	if err != nil {
		return nil, fmt.Errorf("opening blob: %w", err)
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", h, err)
	}
	return &verifyingReader{f: f, path: p, want: h, h: sha256.New()}, nil
}

// verifyingReader checks a blob's digest when its end is reached.
type verifyingReader struct {
	f    *os.File
	path string
	want v1.Hash
	h    hash.Hash
	err  error // sticky result once EOF was seen
}

// Read implements io.Reader.
func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err != io.EOF {
		return n, err
	}
	v.err = io.EOF
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
		// Evict only the file we read, not one a concurrent writer has
		// just renamed into place.
		if fi, serr := os.Stat(v.path); serr == nil {
			if ofi, oerr := v.f.Stat(); oerr == nil && os.SameFile(fi, ofi) {
				os.Remove(v.path)
			}
		}
		v.err = fmt.Errorf("blob %s is corrupt (content hashes to sha256:%s); removed it from the store", v.want, got)
	}
	return n, v.err
}

// Close implements io.Closer.
func (v *verifyingReader) Close() error { return v.f.Close() }

// ingest is a partial blob in ROOT/ingest, flocked while it exists so that
// Open in another process does not sweep it.
type ingest struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

func (s *Store) newIngest() (*ingest, error) {
	f, err := os.CreateTemp(s.path(ingestDir), "blob-*")
	if err != nil {
		return nil, err
	}
	if err := lockFD(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &ingest{s: s, f: f, h: sha256.New()}, nil
}

// Write implements io.Writer, hashing and counting what it writes.
func (in *ingest) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	in.h.Write(p[:n])
	in.n += int64(n)
	return n, err
}

// Written returns the digest and size of what was written so far: an
// ingest is a layer.DigestWriter, so a layer is hashed once, here.
func (in *ingest) Written() (v1.Hash, int64) { return in.digest(), in.n }

func (in *ingest) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(in.h.Sum(nil))}
}

// commit fsyncs the ingest file and renames it to blobs/sha256/<hex>,
// unless an intact copy of that blob already exists (checkBlob); a damaged
// copy is evicted with a warning and replaced. It records the blob's stamp.
func (in *ingest) commit(h v1.Hash) error {
	dst, err := in.s.blobPath(h)
	if err != nil {
		return err
	}
	if err := in.f.Chmod(0o644); err != nil {
		return err
	}
	if err := in.f.Sync(); err != nil {
		return err
	}
	if in.s.checkBlob(h, in.n) {
		return nil // abort removes the duplicate
	}
	if err := os.Rename(in.f.Name(), dst); err != nil {
		return err
	}
	in.done = true
	in.f.Close()
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if fi, err := os.Stat(dst); err == nil {
		in.s.writeStamp(h, fi)
	}
	return nil
}

// abort removes the ingest file unless it was committed. It is safe to call
// after commit.
func (in *ingest) abort() {
	in.f.Close()
	if !in.done {
		os.Remove(in.f.Name())
	}
}

// bytesReader reads a byte slice.

// readerFunc adapts a function to io.Reader.
type readerFunc func([]byte) (int, error)

// Read implements io.Reader.
func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// ctxReader returns a reader that stops a copy when ctx is cancelled.
func ctxReader(ctx context.Context, r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return r.Read(p)
	})
}

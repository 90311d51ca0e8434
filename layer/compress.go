package layer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Fixed compression parameters. None of them depends on the machine, so the
// compressed bytes of a layer are a function of its tar stream and the
// level only.
const (
	// smallLayer is the size below which gzip uses the single-threaded
	// klauspost encoder; larger streams use pgzip.
	smallLayer = 1 << 20
	// pgzipBlock and pgzipBlocks are pgzip's block size and number of
	// blocks in flight. Output depends on the block size only.
	pgzipBlock  = 1 << 20
	pgzipBlocks = 4
	// zstdConcurrency is fixed (not GOMAXPROCS); the klauspost encoder's
	// output does not depend on it, but fixing it removes the question.
	zstdConcurrency = 2
)

// countingHash hashes and counts the bytes passing through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func newCountingHash() *countingHash { return &countingHash{h: sha256.New()} }

func (c *countingHash) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *countingHash) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", c.h.Sum(nil))}
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// DigestWriter is a writer that computes the sha256 digest of what it
// was written (a content store's ingest): Compress takes the compressed
// digest from it instead of hashing the output a second time.
type DigestWriter interface {
	io.Writer
	// Written returns the digest and size of everything written so far.
	Written() (v1.Hash, int64)
}

// Compress reads an uncompressed tar stream and writes it, compressed with
// c at level (0 means the algorithm's default; gzip 1-9, zstd 1-22), to w
// in one streaming pass. The returned Info holds the digest and size of
// what was written (from w when it is a DigestWriter) and the diffID and
// size of what was read. The output bytes do not depend on the number of
// CPUs.
func Compress(ctx context.Context, w io.Writer, tarStream io.Reader, c Compression, level int) (Info, error) {
	diff := newCountingHash()
	ra := newReadAhead(ctxReader{ctx, tarStream}, diff)
	defer ra.Close()
	dw, ok := w.(DigestWriter)
	if !ok {
		dw = &hashingWriter{w: w, h: newCountingHash()}
	}
	// The compressor's output is hashed and written on a goroutine of its
	// own, off the compressor's critical path.
	dst := newAsyncWriter(dw)
	err := compressTo(dst, ra, c, level)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("compressing layer (%s): %w", c, err)
	}
	digest, size := dw.Written()
	return Info{
		Digest:           digest,
		DiffID:           diff.digest(),
		Size:             size,
		UncompressedSize: diff.n,
		MediaType:        c.MediaType(),
	}, nil
}

// hashingWriter makes any writer a DigestWriter.
type hashingWriter struct {
	w io.Writer
	h *countingHash
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

func (hw *hashingWriter) Written() (v1.Hash, int64) { return hw.h.digest(), hw.h.n }

func compressTo(dst io.Writer, src io.Reader, c Compression, level int) error {
	var err error
	switch c {
	case Gzip:
		err = compressGzip(dst, src, level)
	case Zstd:
		err = compressZstd(dst, src, level)
	case None:
		_, err = io.Copy(dst, src)
	default:
		err = fmt.Errorf("unknown compression %q", c)
	}
	return err
}

func compressGzip(dst io.Writer, src io.Reader, level int) error {
	if level == 0 {
		level = gzip.DefaultCompression
	} else if level < 1 || level > 9 {
		return fmt.Errorf("gzip level %d out of range 1-9", level)
	}
	br := bufio.NewReaderSize(src, smallLayer)
	head, err := br.Peek(smallLayer)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var zw io.WriteCloser
	if len(head) < smallLayer {
		zw, err = gzip.NewWriterLevel(dst, level)
	} else {
		var pw *pgzip.Writer
		pw, err = pgzip.NewWriterLevel(dst, level)
		if err == nil {
			err = pw.SetConcurrency(pgzipBlock, pgzipBlocks)
		}
		zw = pw
	}
	if err != nil {
		return err
	}
	return copyClose(zw, br)
}

func compressZstd(dst io.Writer, src io.Reader, level int) error {
	lvl := zstd.SpeedDefault
	if level != 0 {
		if level < 1 || level > 22 {
			return fmt.Errorf("zstd level %d out of range 1-22", level)
		}
		lvl = zstd.EncoderLevelFromZstd(level)
	}
	zw, err := zstd.NewWriter(dst,
		zstd.WithEncoderLevel(lvl),
		zstd.WithEncoderConcurrency(zstdConcurrency),
		zstd.WithConcurrentBlocks(false),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true))
	if err != nil {
		return err
	}
	return copyClose(zw, src)
}

// copyClose copies src into zw and closes zw, returning the first error.
func copyClose(zw io.WriteCloser, src io.Reader) error {
	_, err := io.Copy(zw, src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return err
}

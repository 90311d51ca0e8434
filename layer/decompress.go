package layer

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// SniffLen is how many leading bytes of a file IsArchive wants to see to
// recognise a compressed tar reliably (a zstd block can be large).
const SniffLen = 256 << 10

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// format names the compression detected from leading bytes.
func format(head []byte) string {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return "gzip"
	case bytes.HasPrefix(head, magicZstd):
		return "zstd"
	case bytes.HasPrefix(head, magicBzip2):
		return "bzip2"
	case bytes.HasPrefix(head, magicXz):
		return "xz"
	}
	return ""
}

// readCloser pairs a reader with a close function.
type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func nopClose() error { return nil }

// Decompress sniffs r for gzip, zstd, bzip2 or xz compression and returns
// the uncompressed stream; anything else (a plain tar) is returned as is.
// Closing the result releases decoder resources; it does not close r.
//
// The stream is bounded by DefaultMaxSize unless WithMaxSize says
// otherwise, and by WithMaxRatio if given: a Read past a limit returns an
// error wrapping ErrLimit, so a decompression bomb costs at most the limit
// in bytes read, never memory.
func Decompress(r io.Reader, opts ...Option) (io.ReadCloser, error) {
	o := newOptions(opts)
	in := &countingReader{r: r}
	br := bufio.NewReader(in)
	head, err := br.Peek(len(magicXz))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading layer header: %w", err)
	}
	f := format(head)
	rc, err := decoder(f, br)
	if err != nil {
		return nil, err
	}
	lr := &limitReader{ReadCloser: rc, opts: o}
	if f != "" {
		lr.in = in
	}
	return lr, nil
}

func decoder(f string, r io.Reader) (io.ReadCloser, error) {
	switch f {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("opening zstd stream: %w", err)
		}
		return zr.IOReadCloser(), nil
	case "bzip2":
		return readCloser{bzip2.NewReader(r), nopClose}, nil
	case "xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("opening xz stream: %w", err)
		}
		return readCloser{zr, nopClose}, nil
	}
	return readCloser{r, nopClose}, nil
}

// IsArchive reports whether head, the leading bytes of a file (SniffLen
// bytes are enough), looks like a tar archive, plain or compressed with
// gzip, zstd, bzip2 or xz. ADD extracts a local file only if it does, as
// docker does; a compressed file that is not a tar is copied as is.
func IsArchive(head []byte) bool {
	block := head
	if f := format(head); f != "" {
		rc, err := decoder(f, bytes.NewReader(head))
		if err != nil {
			return false
		}
		defer rc.Close()
		buf := make([]byte, 512)
		n, _ := io.ReadFull(rc, buf)
		block = buf[:n]
	}
	return isTarHeader(block)
}

// isTarHeader reports whether b starts with a tar header block whose
// checksum is valid (v7, ustar, GNU and PAX headers all qualify).
func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	b = b[:512]
	field := strings.Trim(string(b[148:156]), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return int64(want) == unsigned || int64(want) == signed
}

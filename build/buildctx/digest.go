package buildctx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// fileStat holds the platform fields of a FileInfo that digests and the memo
// use.
type fileStat struct {
	uid, gid uint32
	ino      uint64
	ctime    int64 // ns
}

// hashHook, when set by a test, is called with each file Digest hashes.
var hashHook func(p string)

// hashBufSize is each hashing worker's read buffer.
const hashBufSize = 256 << 10

// Digest returns a content digest ("sha256:<hex>") of the selected sources
// for cache keys. For each entry it covers the Rel path, mode, uid/gid,
// symlink target and the sha256 of regular files' contents; mtimes (and
// Path, so moving the context) do not change it.
//
// Regular files are hashed in parallel by a bounded worker pool. When
// memoPath is not "", content hashes are memoised across builds in that file,
// keyed by (path, size, mtime, inode, ctime); an entry whose mtime is not
// strictly older than the memo file's own write time is "racy" (the file may
// have changed within the same timestamp granule after it was hashed, as in
// git's index) and is re-hashed. A missing or corrupt memo is treated as
// empty; failing to write it back is an error.
func (c *Context) Digest(ctx context.Context, matches []Match, memoPath string) (string, error) {
	m, err := loadMemo(memoPath, c.dir)
	if err != nil {
		return "", err
	}
	var all []Source
	for _, mt := range matches {
		all = append(all, mt.Files...)
	}
	sums := make([]string, len(all))
	var todo []int
	for i, s := range all {
		if !s.Info.Mode().IsRegular() {
			continue
		}
		if !m.empty() {
			if sum, ok := m.lookup(m.keyFor(s.Path, s.Info)); ok {
				sums[i] = sum
				continue
			}
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		if err := c.hashAll(ctx, all, todo, sums, m); err != nil {
			return "", fmt.Errorf("digesting build context %s: %w", c.dir, err)
		}
	}
	if err := m.save(); err != nil {
		return "", err
	}
	return c.combine(matches, sums)
}

// combine hashes the per-entry records, in match order, into one digest.
func (c *Context) combine(matches []Match, sums []string) (string, error) {
	h := sha256.New()
	buf := make([]byte, 0, 512)
	i := 0
	for _, mt := range matches {
		buf = fmt.Appendf(buf[:0], "match %d %t\n", len(mt.Files), mt.IsDir)
		h.Write(buf)
		for _, s := range mt.Files {
			st := statOf(s.Info)
			if c.owners != nil {
				st.uid, st.gid = c.owners(st.uid, st.gid)
			}
			var target string
			if s.Info.Mode()&fs.ModeSymlink != 0 {
				t, err := c.readlink(s.Path)
				if err != nil {
					return "", fmt.Errorf("digesting build context: %w", err)
				}
				target = t
			}
			// The record is fmt's "%q %o %d %d %q %s\n", without fmt's
			// reflection (a third of a cold Digest's serial time).
			buf = strconv.AppendQuote(buf[:0], s.Rel)
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, uint64(uint32(s.Info.Mode())), 8)
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, uint64(st.uid), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, uint64(st.gid), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendQuote(buf, target)
			buf = append(buf, ' ')
			buf = append(buf, sums[i]...)
			buf = append(buf, '\n')
			h.Write(buf)
			i++
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashAll hashes the files all[i] for i in todo into sums, and records
// them in the memo. A fixed pool of workers (two per CPU: a worker waiting on
// a read leaves the CPU to another) takes the next index from a shared
// counter and reuses one read buffer.
func (c *Context) hashAll(ctx context.Context, all []Source, todo []int, sums []string, m *memo) error {
	h, err := c.newHasher()
	if err != nil {
		return err
	}
	defer h.close()
	workers := min(2*runtime.GOMAXPROCS(0), len(todo))
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			buf := make([]byte, hashBufSize)
			sh := sha256.New()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) {
					return nil
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				i := todo[k]
				p := all[i].Path
				sum, fi, err := h.hash(p, all[i].Info, sh, buf)
				if err != nil {
					return err
				}
				if m.path != "" {
					m.store(m.keyFor(p, fi), sum)
				}
				sums[i] = sum
			}
		})
	}
	return g.Wait()
}

// hashPortable returns the sha256 of the file's contents and the fstat
// result taken before reading (the memo key), opening it with
// [Context.OpenFile].
func (c *Context) hashPortable(p string, h hash.Hash, buf []byte) (string, fs.FileInfo, error) {
	f, err := c.OpenFile(p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("hashing %s: %w", f.Name(), err)
	}
	h.Reset()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return "", nil, fmt.Errorf("hashing %s: %w", f.Name(), err)
	}
	return hexSum(h, buf), fi, nil
}

// hexSum returns h's sum in hex, using buf (at least 96 bytes) as scratch:
// one allocation, the string.
func hexSum(h hash.Hash, buf []byte) string {
	sum := h.Sum(buf[:0])
	out := buf[len(sum) : len(sum)+hex.EncodedLen(len(sum))]
	hex.Encode(out, sum)
	return string(out)
}

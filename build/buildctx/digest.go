package buildctx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// fileStat holds the platform fields of a FileInfo that digests and the memo
// use.
type fileStat struct {
	uid, gid uint32
	ino      uint64
	ctime    int64 // ns
}

// openForHash opens a file for hashing; a test hook.
var openForHash = (*Context).OpenFile

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
	m, err := loadMemo(memoPath)
	if err != nil {
		return "", err
	}
	var all []Source
	for _, mt := range matches {
		all = append(all, mt.Files...)
	}
	sums := make([]string, len(all))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for i, s := range all {
		if !s.Info.Mode().IsRegular() {
			continue
		}
		if sum, ok := m.lookup(m.keyFor(c.abs(s.Path), s.Info)); ok {
			sums[i] = sum
			continue
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			sum, fi, err := c.hashFile(s.Path)
			if err != nil {
				return err
			}
			m.store(m.keyFor(c.abs(s.Path), fi), sum)
			sums[i] = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", fmt.Errorf("digesting build context %s: %w", c.dir, err)
	}
	if err := m.save(); err != nil {
		return "", err
	}
	return c.combine(matches, sums)
}

// combine hashes the per-entry records, in match order, into one digest.
func (c *Context) combine(matches []Match, sums []string) (string, error) {
	h := sha256.New()
	i := 0
	for _, mt := range matches {
		fmt.Fprintf(h, "match %d %t\n", len(mt.Files), mt.IsDir)
		for _, s := range mt.Files {
			st := statOf(s.Info)
			var target string
			if s.Info.Mode()&fs.ModeSymlink != 0 {
				t, err := os.Readlink(c.abs(s.Path))
				if err != nil {
					return "", fmt.Errorf("digesting build context: %w", err)
				}
				target = t
			}
			fmt.Fprintf(h, "%q %o %d %d %q %s\n", s.Rel, uint32(s.Info.Mode()), st.uid, st.gid, target, sums[i])
			i++
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile returns the sha256 of the file's contents and the fstat result
// taken before reading (the memo key).
func (c *Context) hashFile(p string) (string, fs.FileInfo, error) {
	f, err := openForHash(c, p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("hashing %s: %w", f.Name(), err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", nil, fmt.Errorf("hashing %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}

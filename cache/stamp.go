package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A stamp is a blob file's identity when its content was last known good:
// size, mtime, ctime and inode, recorded in ROOT/stamps/<hex> when the blob
// is committed (or after it was hashed and found good). Any write to the
// file changes its ctime, which no caller can set, so a blob whose stat
// still matches its stamp need not be hashed again; one that does not
// match is hashed before it is trusted.
type stamp struct {
	size, mtime, ctime int64
	ino                uint64
}

func (st stamp) String() string {
	return fmt.Sprintf("%d %d %d %d", st.size, st.mtime, st.ctime, st.ino)
}

func parseStamp(s string) (stamp, bool) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return stamp{}, false
	}
	var st stamp
	var err [4]error
	st.size, err[0] = strconv.ParseInt(f[0], 10, 64)
	st.mtime, err[1] = strconv.ParseInt(f[1], 10, 64)
	st.ctime, err[2] = strconv.ParseInt(f[2], 10, 64)
	st.ino, err[3] = strconv.ParseUint(f[3], 10, 64)
	for _, e := range err {
		if e != nil {
			return stamp{}, false
		}
	}
	return st, true
}

func (s *Store) stampPath(h v1.Hash) string { return s.path(stampsDir, h.Hex) }

// writeStamp records the current stat of the (known good) blob at p. A
// stamp is a hint: it is written without fsync, and a lost or torn one only
// costs a re-hash.
func (s *Store) writeStamp(h v1.Hash, fi os.FileInfo) {
	st, ok := statStamp(fi)
	if !ok {
		return
	}
	p := s.stampPath(h)
	tmp := fmt.Sprintf("%s.tmp-%d", p, os.Getpid())
	if err := os.WriteFile(tmp, []byte(st.String()), 0o644); err != nil {
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
	}
}

// checkBlob reports whether the blob h is present, has size size (when
// size > 0) and is intact. A blob whose stat differs from its stamp is
// hashed; a corrupt or truncated one is evicted with a warning naming why,
// so that the caller treats it as missing and writes it again.
func (s *Store) checkBlob(h v1.Hash, size int64) bool {
	p, err := s.blobPath(h)
	if err != nil {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if size > 0 && fi.Size() != size {
		s.evictBlob(p, fi, fmt.Sprintf("blob %s has %d bytes, want %d", h, fi.Size(), size))
		return false
	}
	if s.stampMatches(h, fi) {
		return true
	}
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return false
	}
	if got := hex.EncodeToString(d.Sum(nil)); got != h.Hex {
		s.evictBlob(p, fi, fmt.Sprintf("blob %s is corrupt (content hashes to sha256:%s)", h, got))
		return false
	}
	s.writeStamp(h, fi)
	return true
}

// stampMatches reports whether fi, the stat of blob h, matches its stamp.
func (s *Store) stampMatches(h v1.Hash, fi os.FileInfo) bool {
	b, err := os.ReadFile(s.stampPath(h))
	if err != nil {
		return false
	}
	want, ok := parseStamp(string(b))
	if !ok {
		return false
	}
	got, ok := statStamp(fi)
	return ok && got == want
}

// evictBlob removes the blob file at p if it is still the file described by
// fi (not one a concurrent writer has just renamed into place), and warns.
func (s *Store) evictBlob(p string, fi os.FileInfo, why string) {
	if cur, err := os.Stat(p); err == nil && os.SameFile(cur, fi) {
		os.Remove(p)
	}
	s.warnf("%s; evicted it from the store, it will be rebuilt or fetched again", why)
}

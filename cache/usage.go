package cache

import (
	"os"
	"time"
)

// touchGranule is how stale a last-use time must be before a hit updates
// it; it keeps hot hits from writing metadata on every build.
const touchGranule = time.Minute

// touch marks p (a step record or a snapshot's usage marker) used now, by
// its mtime. Last use is kept in mtime because atime is unreliable
// (noatime, relatime).
func touch(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		return
	}
	now := time.Now()
	if now.Sub(fi.ModTime()) < touchGranule {
		return
	}
	os.Chtimes(p, now, now)
}

// markSnapshotUsed records that the snapshot with this diffID hex was used
// now, in ROOT/usage/<hex> (the snapshot directory itself is an overlay
// lower directory, whose times must not change).
func (s *Store) markSnapshotUsed(hex string) {
	p := s.path(usageDir, hex)
	if _, err := os.Stat(p); err != nil {
		if f, err := os.Create(p); err == nil {
			f.Close()
		}
		return
	}
	touch(p)
}

// snapshotLastUse returns when the snapshot was last used: its marker's
// mtime, or the directory's when it has no marker.
func (s *Store) snapshotLastUse(hex string, dir os.FileInfo) time.Time {
	if fi, err := os.Stat(s.path(usageDir, hex)); err == nil {
		return fi.ModTime()
	}
	return dir.ModTime()
}

package buildctx

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// memoKey identifies one version of a file for the hash memo.
type memoKey struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // ns
	Ino   uint64 `json:"ino"`
	Ctime int64  `json:"ctime"` // ns
}

// memoEntry is one line of the memo file.
type memoEntry struct {
	memoKey
	Sum string `json:"sha256"`
}

// memoFile is the on-disk memo format (gob: every field exported).
type memoFile struct {
	Version int
	Entries []memoRecord
}

// memoRecord is a memoEntry as stored on disk.
type memoRecord struct {
	Path               string
	Size, Mtime, Ctime int64
	Ino                uint64
	Sum                string
}

// memoVersion 2 is gob-encoded: decoding 20,000 entries as JSON took a
// third of a no-op rebuild.
const memoVersion = 2

// loaded keeps each memo file's decoded content for the life of the process
// (path → *loadedMemo), reused while the file on disk is the one it was
// loaded from or saved as, so a build with several COPY steps decodes the
// memo once.
var loaded sync.Map

type loadedMemo struct {
	m           *memo
	size, mtime int64
}

func fileStamp(p string) (int64, int64, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, 0, false
	}
	return fi.Size(), fi.ModTime().UnixNano(), true
}

// memo is the in-memory hash memo of one Digest call.
type memo struct {
	path    string
	written int64 // ns: the memo file's mtime when loaded; 0 = none

	mu      sync.Mutex
	entries map[string]memoEntry // by path: one version per file
	dirty   bool
}

// loadMemo reads the memo at p ("" = a memo that is never saved). A
// missing or unreadable-as-JSON memo starts empty: it is only a cache.
func loadMemo(p string) (*memo, error) {
	m := &memo{path: p, entries: map[string]memoEntry{}}
	if p == "" {
		return m, nil
	}
	if v, ok := loaded.Load(p); ok {
		lm := v.(*loadedMemo)
		if size, mtime, ok := fileStamp(p); ok && size == lm.size && mtime == lm.mtime {
			return lm.m, nil
		}
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading context hash memo %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading context hash memo %s: %w", p, err)
	}
	var mf memoFile
	if gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&mf) != nil || mf.Version != memoVersion {
		return m, nil
	}
	m.written = fi.ModTime().UnixNano()
	for _, r := range mf.Entries {
		m.entries[r.Path] = memoEntry{memoKey: memoKey{Path: r.Path, Size: r.Size, Mtime: r.Mtime, Ino: r.Ino, Ctime: r.Ctime}, Sum: r.Sum}
	}
	loaded.Store(p, &loadedMemo{m: m, size: fi.Size(), mtime: m.written})
	return m, nil
}

func (m *memo) keyFor(abs string, fi fs.FileInfo) memoKey {
	st := statOf(fi)
	return memoKey{Path: abs, Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Ino: st.ino, Ctime: st.ctime}
}

// empty reports whether the memo has no entries (nothing to look up).
func (m *memo) empty() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries) == 0
}

// lookup returns a memoised hash unless the entry is missing or racy.
func (m *memo) lookup(k memoKey) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k.Path]
	if !ok || e.memoKey != k || k.Mtime >= m.written {
		return "", false
	}
	return e.Sum, true
}

func (m *memo) store(k memoKey, sum string) {
	if m.path == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[k.Path] = memoEntry{memoKey: k, Sum: sum}
	// Always rewrite after hashing: a racy entry only stops being racy once
	// the memo is written again, later than the file's mtime.
	m.dirty = true
}

// save writes the memo atomically (temp file + rename) if it changed.
func (m *memo) save() error {
	m.mu.Lock()
	if m.path == "" || !m.dirty {
		m.mu.Unlock()
		return nil
	}
	mf := memoFile{Version: memoVersion, Entries: make([]memoRecord, 0, len(m.entries))}
	for _, e := range m.entries {
		mf.Entries = append(mf.Entries, memoRecord{Path: e.Path, Size: e.Size, Mtime: e.Mtime, Ctime: e.Ctime, Ino: e.Ino, Sum: e.Sum})
	}
	m.mu.Unlock()
	tmp, err := os.CreateTemp(filepath.Dir(m.path), ".memo-*")
	if err != nil {
		return fmt.Errorf("writing context hash memo %s: %w", m.path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := gob.NewEncoder(bw).Encode(mf); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing context hash memo %s: %w", m.path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing context hash memo %s: %w", m.path, err)
	}
	if err := os.Rename(tmp.Name(), m.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing context hash memo %s: %w", m.path, err)
	}
	// What is on disk is now this memo: later loads in this process reuse
	// it, with the write time as the racy boundary, as a reload would.
	if size, mtime, ok := fileStamp(m.path); ok {
		m.mu.Lock()
		m.dirty, m.written = false, mtime
		m.mu.Unlock()
		loaded.Store(m.path, &loadedMemo{m: m, size: size, mtime: mtime})
	}
	return nil
}

package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Category is the disk use of one kind of store content.
type Category struct {
	// Count is the number of entries (blobs, snapshot or cache-mount
	// directories, step records, explanations, context memos, scratch
	// files).
	Count int `json:"count"`
	// Size is the sum of the apparent sizes of their files, in bytes.
	Size int64 `json:"size"`
}

// Usage is the disk use of a store, by kind.
type Usage struct {
	Blobs       Category `json:"blobs"`
	Snapshots   Category `json:"snapshots"`
	CacheMounts Category `json:"cacheMounts"`
	Steps       Category `json:"steps"`
	// Explanations are the saved inputs of steps, which let a cache miss
	// say what changed; ContextMemos memoise build contexts' file hashes.
	Explanations Category `json:"explanations"`
	ContextMemos Category `json:"contextMemos"`
	// Scratch is what running (or crashed) builds left in ingest/ and
	// mounts/.
	Scratch Category `json:"scratch"`
}

// Total returns the sum of all categories.
func (u Usage) Total() Category {
	var t Category
	for _, c := range []Category{u.Blobs, u.Snapshots, u.CacheMounts, u.Steps, u.Explanations, u.ContextMemos, u.Scratch} {
		t.Count += c.Count
		t.Size += c.Size
	}
	return t
}

// DiskUsage measures the store. It reads directory trees only (no blob is
// opened), and tolerates entries vanishing while it walks.
func (s *Store) DiskUsage(ctx context.Context) (Usage, error) {
	var u Usage
	var err error
	add := func(c *Category, dir string, keep func(string) bool) {
		if err != nil {
			return
		}
		var ents []entry
		ents, err = s.scanDir(ctx, dir, keep)
		for _, e := range ents {
			c.Count++
			c.Size += e.size
		}
	}
	add(&u.Blobs, filepath.Join(blobsDir, "sha256"), isHexName)
	add(&u.Snapshots, snapshotsDir, isHexName)
	add(&u.CacheMounts, cacheMountsDir, notTemp)
	add(&u.Steps, stepsDir, isRecord)
	add(&u.Explanations, explainDir, isRecord)
	add(&u.ContextMemos, contextMemosDir, notHidden)
	add(&u.Scratch, ingestDir, allNames)
	add(&u.Scratch, mountsDir, allNames)
	add(&u.Scratch, ScratchDir, allNames)
	if err != nil {
		return Usage{}, err
	}
	return u, nil
}

// entry is one file or directory tree in a store directory.
type entry struct {
	name    string
	path    string
	size    int64
	lastUse time.Time
}

func isHexName(n string) bool { return checkHash(hashOf(n)) == nil }
func notTemp(n string) bool   { return !isTemp(n) }
func isTemp(n string) bool    { return strings.HasPrefix(n, ".tmp-") }
func allNames(string) bool    { return true }
func notHidden(n string) bool { return !strings.HasPrefix(n, ".") }
func isRecord(n string) bool  { return strings.HasSuffix(n, ".json") && notHidden(n) }

// isMemoTemp matches the temporary files build/buildctx writes a context
// memo through.
func isMemoTemp(n string) bool { return strings.HasPrefix(n, ".memo-") }

// scanDir lists the entries of ROOT/dir accepted by keep, with their sizes
// (a directory's is the sum of its tree's) and modification times (a
// directory's is the newest in its tree). A missing dir is empty.
func (s *Store) scanDir(ctx context.Context, dir string, keep func(string) bool) ([]entry, error) {
	ents, err := os.ReadDir(s.path(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, de := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !keep(de.Name()) {
			continue
		}
		e := entry{name: de.Name(), path: s.path(dir, de.Name())}
		if e.size, e.lastUse, err = treeSize(e.path); err != nil {
			continue // vanished while we looked
		}
		out = append(out, e)
	}
	return out, nil
}

// treeSize returns the apparent size of the files below p and the newest
// modification time in the tree.
func treeSize(p string) (int64, time.Time, error) {
	var size int64
	var newest time.Time
	err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			if q == p {
				return err
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if !fi.IsDir() {
			size += fi.Size()
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	return size, newest, err
}

// hashOf names a sha256 digest by its hex form.
func hashOf(hex string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: hex} }

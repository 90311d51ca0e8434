package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// ScanState is the metadata of every file of a root file system, recorded
// by ScanRoot before a command changes the tree in place, for
// WriteScanDiff. It holds about a hundred bytes per file.
type ScanState struct {
	root  string
	nodes map[string]*scanNode // by path relative to root; "" is root
}

// scanNode is what ScanRoot keeps of one file.
type scanNode struct {
	ino, nlink, rdev uint64
	mode, uid, gid   uint32
	size             int64
	mtime, ctime     unix.Timespec
	children         []string // names, directories only
}

// maxSettle bounds how long ScanRoot waits for the clock to pass the
// newest change time it recorded.
const maxSettle = 100 * time.Millisecond

// ScanRoot records the metadata of every file below root. It returns once
// the kernel's coarse clock is past every change time it recorded, so that
// any later change to a file, which sets its ctime to the current time,
// gives that file a different ctime. ctime cannot be set from user space:
// a file whose inode and ctime are the same afterwards is unchanged in
// content, metadata and extended attributes. Errors name the file.
func ScanRoot(ctx context.Context, root string) (*ScanState, error) {
	s := &ScanState{root: root, nodes: map[string]*scanNode{}}
	var newest unix.Timespec
	var scan func(rel string) error
	scan = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := filepath.Join(root, rel)
		n, err := statNode(full)
		if err != nil {
			return fmt.Errorf("scanning %s: %w", full, err)
		}
		s.nodes[rel] = n
		if n.ctime.Nano() > newest.Nano() {
			newest = n.ctime
		}
		if n.mode&unix.S_IFMT != unix.S_IFDIR {
			return nil
		}
		if n.children, err = readNames(full); err != nil {
			return fmt.Errorf("scanning %s: %w", full, err)
		}
		for _, c := range n.children {
			if err := scan(path.Join(rel, c)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := scan(""); err != nil {
		return nil, err
	}
	settle(newest.Nano())
	return s, nil
}

// settle waits, at most maxSettle, until the coarse real-time clock (from
// which file timestamps are taken) is past newest (ns since the epoch).
func settle(newest int64) {
	deadline := time.Now().Add(maxSettle)
	for time.Now().Before(deadline) {
		var ts unix.Timespec
		if unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &ts) != nil || ts.Nano() > newest {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func statNode(full string) (*scanNode, error) {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: full, Err: err}
	}
	return &scanNode{
		ino: st.Ino, nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
		mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size,
		mtime: st.Mtim, ctime: st.Ctim,
	}, nil
}

// same reports whether n still describes st: the same inode, unchanged
// since it was recorded.
func (n *scanNode) same(st *unix.Stat_t) bool {
	return n.ino == st.Ino && n.ctime == st.Ctim && n.mtime == st.Mtim &&
		n.mode == st.Mode && n.uid == st.Uid && n.gid == st.Gid &&
		n.size == st.Size && n.nlink == uint64(st.Nlink) && n.rdev == uint64(st.Rdev)
}

// linkedOnly reports whether st differs from n only by its link count (and
// so its ctime): a hard link was made to an unchanged file. As BuildKit's
// differ, which compares type, mode, owner, size and times but not links,
// leaves such a file out of the layer, the new link is then written as an
// independent file (see PruneUnchanged for the overlay differ).
func (n *scanNode) linkedOnly(st *unix.Stat_t) bool {
	return n.ino == st.Ino && n.nlink != uint64(st.Nlink) && n.mtime == st.Mtim &&
		n.mode == st.Mode && n.uid == st.Uid && n.gid == st.Gid &&
		n.size == st.Size && n.rdev == uint64(st.Rdev) && st.Mode&unix.S_IFMT != unix.S_IFDIR
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// WriteScanDiff writes to w, as an OCI layer, how the tree recorded in
// before has changed since: every added or changed file (with its parent
// directories), and a ".wh.<name>" whiteout for every removed one. Entries
// come in the order WriteOverlayDiff uses (sorted by entry name, parents
// first, whiteouts sorted by their ".wh." names); hard links among the
// changed files become tar hard links; a created file whose name starts
// with ".wh." is an error. It is the fallback for WriteOverlayDiff where an
// overlay cannot be mounted: its cost is a stat of every file of the tree
// plus reading the changed files.
func WriteScanDiff(ctx context.Context, w io.Writer, before *ScanState, opts TarOptions) error {
	d := &scanDiff{
		wk:     &walker{tw: NewTarWriter(w, opts), root: before.root, links: map[devIno]string{}},
		before: before,
	}
	if err := d.walk(ctx, ""); err != nil {
		return err
	}
	if err := d.wk.tw.Close(); err != nil {
		return fmt.Errorf("writing layer of %s: %w", before.root, err)
	}
	return nil
}

// scanDiff is one WriteScanDiff.
type scanDiff struct {
	wk      *walker
	before  *ScanState
	pending []pendingDir // unchanged ancestors not yet written
}

type pendingDir struct {
	full, name string
	st         unix.Stat_t
	written    bool
}

// flush writes the pending ancestors of the next entry.
func (d *scanDiff) flush() error {
	for i := range d.pending {
		p := &d.pending[i]
		if p.written {
			continue
		}
		if err := d.wk.entry(p.full, p.name, &p.st); err != nil {
			return err
		}
		p.written = true
	}
	return nil
}

// walk compares the directory rel with its recorded state.
func (d *scanDiff) walk(ctx context.Context, rel string) error {
	full := filepath.Join(d.before.root, rel)
	names, err := readNames(full)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", full, err)
	}
	type item struct {
		key, name string
		gone      bool
	}
	items := make([]item, 0, len(names))
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
		items = append(items, item{key: n, name: n})
	}
	if old := d.before.nodes[rel]; old != nil && old.mode&unix.S_IFMT == unix.S_IFDIR {
		for _, n := range old.children {
			if !present[n] {
				items = append(items, item{key: whPrefix + n, name: n, gone: true})
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		childRel := path.Join(rel, it.name)
		if it.gone {
			if err := d.flush(); err != nil {
				return err
			}
			if err := d.wk.whiteout(path.Join(rel, whPrefix+it.name)); err != nil {
				return err
			}
			continue
		}
		if err := d.child(ctx, childRel); err != nil {
			return err
		}
	}
	return nil
}

// child writes one existing path if it changed, and walks a directory.
func (d *scanDiff) child(ctx context.Context, rel string) error {
	full := filepath.Join(d.before.root, rel)
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fmt.Errorf("reading %s: %w", full, &os.PathError{Op: "lstat", Path: full, Err: err})
	}
	old := d.before.nodes[rel]
	changed := old == nil || !(old.same(&st) || old.linkedOnly(&st))
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if changed {
		if err := d.flush(); err != nil {
			return err
		}
		if err := d.wk.entry(full, rel, &st); err != nil {
			return err
		}
	}
	if !isDir {
		return nil
	}
	d.pending = append(d.pending, pendingDir{full: full, name: rel, st: st, written: changed})
	err := d.walk(ctx, rel)
	d.pending = d.pending[:len(d.pending)-1]
	return err
}

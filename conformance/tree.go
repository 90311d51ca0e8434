package conformance

import (
	"fmt"
	"sort"
	"strings"
)

// Entry is what the comparison knows about one path of a root filesystem.
type Entry struct {
	Type    string // "file", "dir", "symlink", "char", "block", "fifo", "socket"
	Mode    uint32 // permission bits with setuid, setgid and sticky (07777)
	UID     int
	GID     int
	Size    int64
	Digest  string            // sha256 of a regular file's content
	Target  string            // a symlink's target
	Xattrs  map[string]string // name -> value (quoted)
	Major   uint32            // device numbers of a char or block device
	Minor   uint32
	MTime   int64 // Unix nanoseconds
	Links   []string
	inodeID uint64
}

// Tree is a scanned root filesystem, keyed by slash path relative to the
// root ("/" is the root itself).
type Tree map[string]*Entry

// linkGroups fills each entry's Links with the other paths sharing its inode.
func (t Tree) linkGroups() {
	groups := map[uint64][]string{}
	for p, e := range t {
		if e.Type == "file" && e.inodeID != 0 {
			groups[e.inodeID] = append(groups[e.inodeID], p)
		}
	}
	for _, paths := range groups {
		if len(paths) < 2 {
			continue
		}
		sort.Strings(paths)
		for _, p := range paths {
			for _, q := range paths {
				if q != p {
					t[p].Links = append(t[p].Links, q)
				}
			}
		}
	}
}

// CompareTrees lists the differences between a reference tree (BuildKit's)
// and ibuild's, one line per path and attribute, sorted by path. Times are
// compared only when times is true.
func CompareTrees(ref, got Tree, times bool) []string {
	paths := map[string]bool{}
	for p := range ref {
		paths[p] = true
	}
	for p := range got {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var diffs []string
	for _, p := range sorted {
		r, g := ref[p], got[p]
		switch {
		case g == nil:
			diffs = append(diffs, fmt.Sprintf("%s: only in BuildKit's image (%s)", p, r.describe()))
		case r == nil:
			diffs = append(diffs, fmt.Sprintf("%s: only in ibuild's image (%s)", p, g.describe()))
		default:
			for _, d := range compareEntry(r, g, times) {
				diffs = append(diffs, p+": "+d)
			}
		}
	}
	return diffs
}

func compareEntry(r, g *Entry, times bool) []string {
	var d []string
	add := func(what string, rv, gv any) {
		d = append(d, fmt.Sprintf("%s BuildKit %v, ibuild %v", what, rv, gv))
	}
	if r.Type != g.Type {
		add("type", r.Type, g.Type)
		return d
	}
	if r.Mode != g.Mode {
		add("mode", fmt.Sprintf("%04o", r.Mode), fmt.Sprintf("%04o", g.Mode))
	}
	if r.UID != g.UID || r.GID != g.GID {
		add("owner", fmt.Sprintf("%d:%d", r.UID, r.GID), fmt.Sprintf("%d:%d", g.UID, g.GID))
	}
	if r.Type == "file" && r.Digest != g.Digest {
		add("content", fmt.Sprintf("%d bytes %.19s", r.Size, r.Digest), fmt.Sprintf("%d bytes %.19s", g.Size, g.Digest))
	}
	if r.Target != g.Target {
		add("symlink target", quote(r.Target), quote(g.Target))
	}
	if r.Major != g.Major || r.Minor != g.Minor {
		add("device", fmt.Sprintf("%d,%d", r.Major, r.Minor), fmt.Sprintf("%d,%d", g.Major, g.Minor))
	}
	if rx, gx := fmtMap(r.Xattrs), fmtMap(g.Xattrs); rx != gx {
		add("xattrs", rx, gx)
	}
	if rl, gl := strings.Join(r.Links, ","), strings.Join(g.Links, ","); rl != gl {
		add("hardlinked with", "["+rl+"]", "["+gl+"]")
	}
	if times && r.MTime != g.MTime {
		add("mtime", r.MTime, g.MTime)
	}
	return d
}

func (e *Entry) describe() string {
	s := fmt.Sprintf("%s %04o %d:%d", e.Type, e.Mode, e.UID, e.GID)
	switch e.Type {
	case "file":
		s += fmt.Sprintf(" %d bytes", e.Size)
	case "symlink":
		s += " -> " + quote(e.Target)
	}
	return s
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func fmtMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(k + "=" + m[k])
	}
	b.WriteString("}")
	return b.String()
}

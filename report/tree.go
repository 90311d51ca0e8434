package report

import (
	"hash/maphash"
	"io"
	"path"
	"sort"
	"strings"
)

// node is one path of the merged filesystem while layers are applied.
type node struct {
	children map[string]*node
	dir      bool
	layer    int    // layer that wrote the entry
	size     int64  // content bytes (tar header size)
	sum      uint64 // hash of the content (regular files with content)
}

// wasteItem is one file's worth of waste.
type wasteItem struct {
	kind  string // "deleted", "overwritten", "rule"
	rule  string
	layer int
	path  string
	size  int64
	// by is the layer that deleted or overwrote the file (shadowed kinds);
	// same says an overwrite left the content unchanged (a chmod, chown
	// or touch rewrote the file).
	by   int
	same bool
}

// fsTree merges layers the way a container runtime does and records what each
// layer shadows, plus dive's per-path efficiency figures.
type fsTree struct {
	root   *node
	waste  []wasteItem
	effMin map[string]int64 // smallest size seen per path (dive)
	effSum map[string]int64 // sum of sizes seen per path (dive)
	seed   maphash.Seed     // content hashes compare within one tree
}

func newTree() *fsTree {
	return &fsTree{root: &node{dir: true, children: map[string]*node{}},
		effMin: map[string]int64{}, effSum: map[string]int64{}, seed: maphash.MakeSeed()}
}

// hash reads size bytes of content from r and returns their hash; peek,
// when it reads, sees the same bytes first. Empty content hashes to 0.
func (t *fsTree) hash(r io.Reader, size int64, peek func(io.Reader) error) (uint64, error) {
	if size <= 0 {
		return 0, nil
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	tee := io.TeeReader(io.LimitReader(r, size), &h)
	if err := peek(tee); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, err
	}
	return h.Sum64(), nil
}

// lookup walks to the parent of name, creating directories when create is
// set; it returns the parent and the last element.
func (t *fsTree) lookup(name string, layer int, create bool) (*node, string) {
	elems := strings.Split(name, "/")
	cur := t.root
	for _, el := range elems[:len(elems)-1] {
		next := cur.children[el]
		if next == nil || !next.dir {
			if !create {
				return nil, ""
			}
			next = &node{dir: true, layer: layer, children: map[string]*node{}}
			cur.children[el] = next
		}
		cur = next
	}
	return cur, elems[len(elems)-1]
}

// see records one layer entry of size at name for the efficiency score.
func (t *fsTree) see(name string, size int64) {
	if m, ok := t.effMin[name]; !ok || size < m {
		t.effMin[name] = size
	}
	t.effSum[name] += size
}

// add applies a non-whiteout entry written by layer; sum hashes the
// content of a regular file.
func (t *fsTree) add(name string, layer int, dir bool, size int64, sum uint64) {
	if name == "" {
		return
	}
	parent, base := t.lookup(name, layer, true)
	old := parent.children[base]
	if dir {
		if old != nil && old.dir {
			return // re-declared directory keeps its children
		}
		if old != nil {
			t.shadow(name, old, "overwritten", layer)
		}
		parent.children[base] = &node{dir: true, layer: layer, children: map[string]*node{}}
		return
	}
	t.see(name, size)
	if old != nil {
		if !old.dir && old.size == size && old.sum == sum && size > 0 {
			t.waste = append(t.waste, wasteItem{kind: "overwritten", layer: old.layer, path: "/" + name, size: size, by: layer, same: true})
		} else {
			t.shadow(name, old, "overwritten", layer)
		}
	}
	parent.children[base] = &node{layer: layer, size: size, sum: sum}
}

// remove applies a whiteout for name found in layer.
func (t *fsTree) remove(name string, layer int) {
	parent, base := t.lookup(name, 0, false)
	if parent == nil || parent.children[base] == nil {
		return
	}
	t.shadow(name, parent.children[base], "deleted", layer)
	delete(parent.children, base)
}

// opaque applies an opaque whiteout: dir's entries from layers below layer
// are hidden.
func (t *fsTree) opaque(dir string, layer int) {
	n := t.root
	if dir != "" {
		parent, base := t.lookup(dir, 0, false)
		if parent == nil || parent.children[base] == nil || !parent.children[base].dir {
			return
		}
		n = parent.children[base]
	}
	for name, c := range n.children {
		if c.layer < layer {
			t.shadow(path.Join(dir, name), c, "deleted", layer)
			delete(n.children, name)
		}
	}
}

// shadow records the files of n (a file, or a directory's subtree) as waste
// of the layers that wrote them, shadowed by layer by, and as zero-size
// sightings for dive's score.
func (t *fsTree) shadow(name string, n *node, kind string, by int) {
	if !n.dir {
		if kind == "deleted" { // a whiteout is a zero-size sighting; an overwrite is seen by add
			t.see(name, 0)
		}
		if n.size > 0 {
			t.waste = append(t.waste, wasteItem{kind: kind, layer: n.layer, path: "/" + name, size: n.size, by: by})
		}
		return
	}
	for _, c := range sortedChildren(n) {
		t.shadow(path.Join(name, c), n.children[c], kind, by)
	}
}

func sortedChildren(n *node) []string {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// walk calls fn for every non-directory file of the merged tree, in path order.
func (t *fsTree) walk(fn func(name string, n *node)) {
	var rec func(prefix string, n *node)
	rec = func(prefix string, n *node) {
		for _, c := range sortedChildren(n) {
			child, p := n.children[c], path.Join(prefix, c)
			if child.dir {
				rec(p, child)
			} else {
				fn(p, child)
			}
		}
	}
	rec("", t.root)
}

// efficiency is dive's score: Σ per-path minimum / Σ per-path sum, 1 when
// nothing was seen.
func (t *fsTree) efficiency() float64 {
	var lo, sum int64
	for p, s := range t.effSum {
		sum += s
		lo += t.effMin[p]
	}
	if sum == 0 {
		return 1
	}
	return float64(lo) / float64(sum)
}

package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrInUse is wrapped by Prune's error when another process has the store
// open (a running build).
var ErrInUse = errors.New("store in use by a running build")

// PruneOptions selects what Prune removes.
type PruneOptions struct {
	// All also removes tagged images (their tags and blobs). Without it,
	// every blob a tagged image needs is kept.
	All bool
	// KeepStorage, when positive, stops pruning once the store holds at
	// most this many bytes (least recently used entries go first).
	KeepStorage int64
	// Until, when positive, spares entries used within this long.
	Until time.Duration
}

// PruneReport says what Prune removed.
type PruneReport struct {
	// Removed counts and sizes what was removed, by kind.
	Removed Usage
	// Untagged lists the tags removed (only with All).
	Untagged []string
}

// Prune removes build cache, least recently used first: step records (last
// used when GetStep last hit them), snapshots (last used by Snapshot),
// cache mounts (newest file in them), step explanations and context memos
// (last written), blobs no remaining record or tag refers to, and with All,
// tagged images. Scratch left by crashed builds in ingest/ and mounts/, and
// temporary files beside records and memos, always goes. It needs the store to itself: if another
// process holds it open it fails at once with an error wrapping ErrInUse,
// so nothing a running build uses is ever removed.
//
// Removal is ordered so that a crash leaves no dangling reference: tags
// first, then step records, then the blobs and snapshots they referred to
// (snapshots are renamed out of snapshots/ before being deleted).
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	ok, err := upgradeLock(ctx, s.gc)
	if err != nil {
		return PruneReport{}, fmt.Errorf("pruning %s: locking %s: %w", s.root, gcLockFile, err)
	}
	if !ok {
		return PruneReport{}, fmt.Errorf("pruning %s: %w (another ibuild process has it open; retry when it ends)", s.root, ErrInUse)
	}
	defer downgradeLock(s.gc)
	g, err := s.scanGraph(ctx)
	if err != nil {
		return PruneReport{}, fmt.Errorf("pruning %s: %w", s.root, err)
	}
	plan := g.plan(opts, time.Now())
	rep, err := s.execute(ctx, g, plan)
	if err != nil {
		return rep, fmt.Errorf("pruning %s: %w", s.root, err)
	}
	return rep, nil
}

// node kinds.
const (
	kindTag = iota
	kindStep
	kindSnapshot
	kindCacheMount
	kindExplanation
	kindContextMemo
	kindBlob
	kindScratch
)

// node is one removable thing in the store.
type node struct {
	kind  int
	e     entry
	blobs []string // blob digests (hex) a tag or record refers to
	diffs []string // diffIDs (hex) whose snapshots a tag or record refers to
	tag   string
}

// graph is the store's removable content and its references.
type graph struct {
	nodes     []*node
	blob      map[string]*node
	snap      map[string]*node
	blobRefs  map[string]int
	diffRefs  map[string]int
	totalSize int64
}

// scanGraph lists the store's content and counts references to blobs and
// snapshots from tags and step records.
func (s *Store) scanGraph(ctx context.Context) (*graph, error) {
	g := &graph{blob: map[string]*node{}, snap: map[string]*node{}, blobRefs: map[string]int{}, diffRefs: map[string]int{}}
	add := func(kind int, dir string, keep func(string) bool) error {
		ents, err := s.scanDir(ctx, dir, keep)
		for _, e := range ents {
			n := &node{kind: kind, e: e}
			g.nodes = append(g.nodes, n)
			g.totalSize += e.size
			switch kind {
			case kindBlob:
				g.blob[e.name] = n
			case kindSnapshot:
				g.snap[e.name] = n
			}
		}
		return err
	}
	for _, d := range []struct {
		kind int
		dir  string
		keep func(string) bool
	}{
		{kindBlob, blobsDir + "/sha256", isHexName},
		{kindSnapshot, snapshotsDir, isHexName},
		{kindCacheMount, cacheMountsDir, notTemp},
		{kindStep, stepsDir, isRecord},
		{kindExplanation, explainDir, isRecord},
		{kindContextMemo, contextMemosDir, notHidden},
		{kindScratch, ingestDir, allNames},
		{kindScratch, mountsDir, allNames},
		{kindScratch, ScratchDir, allNames},
		{kindScratch, snapshotsDir, isTemp},
		{kindScratch, stepsDir, isTemp},
		{kindScratch, explainDir, isTemp},
		{kindScratch, contextMemosDir, isMemoTemp},
	} {
		if err := add(d.kind, d.dir, d.keep); err != nil {
			return nil, err
		}
	}
	for _, n := range g.nodes {
		switch n.kind {
		case kindSnapshot:
			if fi, err := os.Stat(n.e.path); err == nil {
				n.e.lastUse = s.snapshotLastUse(n.e.name, fi)
			}
		case kindStep:
			var rec StepRecord
			if err := readJSON(n.e.path, &rec); err == nil && rec.Layer != nil {
				n.blobs = []string{rec.Layer.Digest.Hex}
				n.diffs = []string{rec.Layer.DiffID.Hex}
			}
			if fi, err := os.Stat(n.e.path); err == nil {
				n.e.lastUse = fi.ModTime()
			}
		}
	}
	if err := s.scanTags(g); err != nil {
		return nil, err
	}
	for _, n := range g.nodes {
		g.ref(n, 1)
	}
	return g, nil
}

// scanTags adds a node per index.json entry, referring to its manifest,
// config and layers, and their snapshots.
func (s *Store) scanTags(g *graph) error {
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	for _, d := range idx.Manifests {
		n := &node{kind: kindTag, tag: refName(d), blobs: []string{d.Digest.Hex}}
		if b, ok := g.blob[d.Digest.Hex]; ok {
			n.e.lastUse = b.e.lastUse
		}
		manifests := []v1.Hash{d.Digest}
		if d.MediaType.IsIndex() {
			// A multi-platform image: every platform's manifest is kept.
			manifests = nil
			var im v1.IndexManifest
			if err := s.readSmallJSON(d.Digest, &im); err == nil {
				for _, c := range im.Manifests {
					n.blobs = append(n.blobs, c.Digest.Hex)
					manifests = append(manifests, c.Digest)
				}
			}
		}
		for _, h := range manifests {
			s.refManifest(n, h)
		}
		g.nodes = append(g.nodes, n)
	}
	return nil
}

// refManifest makes n refer to the config and layers of the manifest h,
// and their snapshots.
func (s *Store) refManifest(n *node, h v1.Hash) {
	var m v1.Manifest
	if err := s.readSmallJSON(h, &m); err != nil {
		return
	}
	n.blobs = append(n.blobs, m.Config.Digest.Hex)
	for _, l := range m.Layers {
		n.blobs = append(n.blobs, l.Digest.Hex)
	}
	var cf v1.ConfigFile
	if err := s.readSmallJSON(m.Config.Digest, &cf); err == nil {
		for _, h := range cf.RootFS.DiffIDs {
			n.diffs = append(n.diffs, h.Hex)
		}
	}
}

// ref adds delta to the reference counts of what n refers to.
func (g *graph) ref(n *node, delta int) {
	for _, h := range n.blobs {
		g.blobRefs[h] += delta
	}
	for _, h := range n.diffs {
		g.diffRefs[h] += delta
	}
}

// plan picks the nodes to remove, in order.
func (g *graph) plan(opts PruneOptions, now time.Time) []*node {
	var out []*node
	removed := map[*node]bool{}
	var remove func(n *node)
	remove = func(n *node) {
		if removed[n] {
			return
		}
		removed[n] = true
		out = append(out, n)
		g.totalSize -= n.e.size
		if n.kind != kindTag && n.kind != kindStep {
			return
		}
		g.ref(n, -1)
		// What only n referred to goes with it.
		for _, h := range n.blobs {
			if b := g.blob[h]; b != nil && g.blobRefs[h] == 0 {
				remove(b)
			}
		}
		for _, h := range n.diffs {
			if sn := g.snap[h]; sn != nil && g.diffRefs[h] == 0 {
				remove(sn)
			}
		}
	}
	for _, n := range g.nodes {
		if n.kind == kindScratch {
			remove(n)
		}
	}
	var cand []*node
	for _, n := range g.nodes {
		switch {
		case n.kind == kindScratch:
		case n.kind == kindTag && !opts.All:
		case n.kind == kindBlob && g.blobRefs[n.e.name] > 0:
		case opts.Until > 0 && now.Sub(n.e.lastUse) < opts.Until:
		default:
			cand = append(cand, n)
		}
	}
	slices.SortStableFunc(cand, func(a, b *node) int { return a.e.lastUse.Compare(b.e.lastUse) })
	for _, n := range cand {
		if opts.KeepStorage > 0 && g.totalSize <= opts.KeepStorage {
			break
		}
		if n.kind == kindBlob && g.blobRefs[n.e.name] > 0 {
			continue
		}
		remove(n)
	}
	return out
}

// execute removes the planned nodes: tags first, then step records, then
// everything else, so that nothing left refers to something removed.
func (s *Store) execute(ctx context.Context, g *graph, plan []*node) (PruneReport, error) {
	var rep PruneReport
	untag := map[string]bool{}
	for _, n := range plan {
		if n.kind == kindTag {
			untag[n.tag] = true
			rep.Untagged = append(rep.Untagged, n.tag)
		}
	}
	if len(untag) > 0 {
		err := s.updateIndex(ctx, func(idx *v1.IndexManifest) error {
			idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return untag[refName(d)] })
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	for _, pass := range []func(*node) bool{
		func(n *node) bool { return n.kind == kindStep },
		func(n *node) bool { return n.kind != kindStep && n.kind != kindTag },
	} {
		for _, n := range plan {
			if !pass(n) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if err := s.removeNode(n); err != nil {
				return rep, err
			}
			c := rep.Removed.category(n.kind)
			c.Count++
			c.Size += n.e.size
		}
	}
	return rep, nil
}

// category returns the Usage field for a node kind.
func (u *Usage) category(kind int) *Category {
	switch kind {
	case kindBlob:
		return &u.Blobs
	case kindSnapshot:
		return &u.Snapshots
	case kindCacheMount:
		return &u.CacheMounts
	case kindStep:
		return &u.Steps
	case kindExplanation:
		return &u.Explanations
	case kindContextMemo:
		return &u.ContextMemos
	default:
		return &u.Scratch
	}
}

// removeNode deletes one entry. A directory is first renamed into ingest/,
// so that no half-deleted snapshot is ever visible under its name.
func (s *Store) removeNode(n *node) error {
	switch n.kind {
	case kindBlob:
		os.Remove(s.stampPath(hashOf(n.e.name)))
	case kindSnapshot:
		os.Remove(s.path(usageDir, n.e.name))
	}
	p := n.e.path
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() && n.kind != kindScratch {
		trash, err := os.MkdirTemp(s.path(ingestDir), "gc-")
		if err != nil {
			return err
		}
		if err := os.Rename(p, trash+"/d"); err != nil {
			os.Remove(trash)
			return fmt.Errorf("removing %s: %w", p, err)
		}
		p = trash
	}
	if n.kind == kindScratch {
		if err := unmountBelow(p); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("removing %s: %w", n.e.path, err)
	}
	return nil
}

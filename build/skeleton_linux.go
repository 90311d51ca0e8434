package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ibuild/ibuild/layer"
)

// copyRoot returns the root file system a COPY or WORKDIR plans in.
// Planning reads only metadata (what exists at the destination, its
// parents and symlinks, its entries' kinds) unless a user or group is
// given by name (looked up in /etc/passwd and /etc/group). Such a step
// does not wait for the extraction of the layers when most of them (by
// size) are not extracted yet: it gets a skeleton made from the layers'
// tar headers alone, so that an image whose steps never run anything is
// never extracted. Where the base is being extracted for a later RUN
// (prefetchBase) the step waits for it instead: reading the headers
// decompresses the layers a second time, which on a loaded two-core
// machine slowed the extraction the RUN waits for by more than the step
// gained. Otherwise it gets mountRootfs's.
func (b *builder) copyRoot(ctx context.Context, layers []layer.Info, dest, chown string) (string, func(), error) {
	if !numericChown(chown) || len(layers) == 0 || b.prefetched(layers) || !b.mostlyUnextracted(layers) {
		return b.mountRootfs(ctx, layers)
	}
	if err := b.ensureBlobs(ctx, layers, false); err != nil {
		return "", nil, err
	}
	return b.skeleton(ctx, layers, dest)
}

// numericChown says whether a --chown value needs no name lookup.
func numericChown(s string) bool {
	if s == "" {
		return true
	}
	for _, part := range strings.SplitN(s, ":", 2) {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return false
		}
	}
	return true
}

// mostlyUnextracted says whether the layers not extracted yet are more
// than half of the layers' bytes: then reading every layer's headers costs
// less than extracting them; otherwise (a base extracted, the small layers
// of earlier steps not) extraction is the cheaper.
func (b *builder) mostlyUnextracted(layers []layer.Info) bool {
	var missing, total int64
	for _, l := range layers {
		size := max(l.Size, 1)
		total += size
		if fi, err := os.Stat(filepath.Join(b.opt.Store.Root(), "snapshots", l.DiffID.Hex)); err != nil || !fi.IsDir() {
			missing += size
		}
	}
	return 2*missing > total
}

// skelEntry is what the skeleton keeps of one path of the merged layers.
type skelEntry struct {
	hdr   tar.Header
	layer int // index of the layer that wrote it
}

// skeleton merges the layers' headers (whiteouts and opaque markers
// applied) and extracts, with layer.ApplyDir's checks, the part a COPY to
// dest looks at: the paths dest and the targets of symlinks on the way
// resolve through, with every parent, and everything below where they
// lead. Regular files are empty; other kinds but directories and
// symlinks become empty files. It returns the directory and its cleanup.
func (b *builder) skeleton(ctx context.Context, layers []layer.Info, dest string) (string, func(), error) {
	ix := map[string]*skelEntry{}
	for i, l := range layers {
		lh, err := b.layerHeaders(ctx, l)
		if err != nil {
			return "", nil, fmt.Errorf("reading layer %s: %w", l.Digest, err)
		}
		lh.apply(ix, i)
	}
	keep := skeletonPaths(ix, dest)
	tmp, err := b.opt.Store.TempDir("skeleton-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeSkeleton(pw, ix, keep)) }()
	err = layer.ApplyDir(ctx, root, pr, b.opt.Store.LayerLimits()...)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("making the root file system's skeleton: %w", err)
	}
	return root, cleanup, nil
}

// headers are one layer's entries: opaque directories, whiteouts and
// the rest, in order.
type headers struct {
	opaque, whiteouts []string
	adds              []*tar.Header
}

// headerMemo is one layer's headers, read once per build.
type headerMemo struct {
	once sync.Once
	h    *headers
	err  error
}

// layerHeaders reads the headers of layer l once per build.
func (b *builder) layerHeaders(ctx context.Context, l layer.Info) (*headers, error) {
	m, _ := b.headers.LoadOrStore(l.DiffID, &headerMemo{})
	hm := m.(*headerMemo)
	hm.once.Do(func() { hm.h, hm.err = b.readHeaders(ctx, l) })
	return hm.h, hm.err
}

// readHeaders reads one layer's headers (the whole blob, so that its
// digest is checked).
func (b *builder) readHeaders(ctx context.Context, l layer.Info) (*headers, error) {
	rc, err := b.opt.Store.Blob(ctx, l.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dr, err := layer.Decompress(rc, b.opt.Store.LayerLimits()...)
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	lh := &headers{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if n := len(lh.adds) + len(lh.whiteouts) + len(lh.opaque); n >= layer.DefaultMaxEntries {
			return nil, fmt.Errorf("more than %d entries: %w", layer.DefaultMaxEntries, layer.ErrLimit)
		}
		// What extracting the layer would refuse, the skeleton refuses:
		// a base it stands in for fails its first COPY as if extracted.
		skip, err := layer.CheckEntry(hdr)
		if err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		if skip {
			continue
		}
		name := layer.CleanPath(hdr.Name)
		dir, base := path.Dir(name), path.Base(name)
		if dir == "." {
			dir = ""
		}
		switch {
		case base == ".wh..wh..opq":
			lh.opaque = append(lh.opaque, dir)
		case strings.HasPrefix(base, ".wh."):
			lh.whiteouts = append(lh.whiteouts, layer.CleanPath(path.Join(dir, strings.TrimPrefix(base, ".wh."))))
		default:
			h := &tar.Header{Typeflag: hdr.Typeflag, Name: name, Linkname: hdr.Linkname, Mode: hdr.Mode,
				Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime}
			lh.adds = append(lh.adds, h)
		}
	}
	// Read what the tar reader left, so that the blob's digest is checked.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	return lh, nil
}

// apply merges the layer, the idx'th, onto ix as extraction would.
func (lh *headers) apply(ix map[string]*skelEntry, idx int) {
	for _, d := range lh.opaque {
		removeBelow(ix, d, func(e *skelEntry) bool { return e.layer < idx })
	}
	for _, w := range lh.whiteouts {
		delete(ix, w)
		removeBelow(ix, w, nil)
	}
	for _, h := range lh.adds {
		if old := ix[h.Name]; old != nil && old.hdr.Typeflag == tar.TypeDir && h.Typeflag != tar.TypeDir {
			removeBelow(ix, h.Name, nil)
		}
		ix[h.Name] = &skelEntry{hdr: *h, layer: idx}
	}
}

// removeBelow deletes the entries below dir ("" is the root) that match.
func removeBelow(ix map[string]*skelEntry, dir string, match func(*skelEntry) bool) {
	prefix := dir + "/"
	for name, e := range ix {
		if (dir == "" && name != "" || strings.HasPrefix(name, prefix)) && (match == nil || match(e)) {
			delete(ix, name)
		}
	}
}

// skeletonPaths are the paths of ix a COPY to dest may look at: dest
// resolved component by component through symlinks as the kernel would
// (at most 255 links, ".." stopping at the root), every component and link
// on the way, everything below where it leads, and likewise for the
// targets of the symlinks found below. Including too much is harmless.
func skeletonPaths(ix map[string]*skelEntry, dest string) map[string]bool {
	names := make([]string, 0, len(ix))
	for name := range ix {
		names = append(names, name)
	}
	sort.Strings(names)
	keep := map[string]bool{}
	work := []string{layer.CleanPath(dest)}
	seen := map[string]bool{}
	for len(work) > 0 && len(seen) < 4096 {
		p := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		resolved := resolveIn(ix, p, keep)
		// The names below resolved sort together, after resolved + "/".
		prefix := resolved + "/"
		if resolved == "" {
			prefix = ""
		}
		for k := sort.SearchStrings(names, prefix); k < len(names) && strings.HasPrefix(names[k], prefix); k++ {
			name := names[k]
			keep[name] = true
			if e := ix[name]; e.hdr.Typeflag == tar.TypeSymlink {
				work = append(work, symlinkTarget(name, e.hdr.Linkname))
			}
		}
		if resolved != "" && ix[resolved] != nil {
			keep[resolved] = true
		}
	}
	for name := range keep {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			keep[d] = true
		}
	}
	return keep
}

// resolveIn resolves p in ix, marking every component it passes in keep,
// and returns the resolved path.
func resolveIn(ix map[string]*skelEntry, p string, keep map[string]bool) string {
	rest := strings.Split(layer.CleanPath(p), "/")
	cur := ""
	for n := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = layer.CleanPath(path.Dir("/" + cur))
			continue
		}
		next := layer.CleanPath(path.Join(cur, c))
		e := ix[next]
		if e == nil {
			return layer.CleanPath(path.Join(next, strings.Join(rest, "/")))
		}
		keep[next] = true
		if e.hdr.Typeflag != tar.TypeSymlink {
			cur = next
			continue
		}
		if n++; n > 255 {
			return next
		}
		rest = append(strings.Split(symlinkTarget(next, e.hdr.Linkname), "/"), rest...)
		cur = ""
	}
	return cur
}

// symlinkTarget is the root-relative path a symlink at name points to.
func symlinkTarget(name, target string) string {
	if path.IsAbs(target) {
		return layer.CleanPath(target)
	}
	return layer.CleanPath(path.Join(path.Dir("/"+name), target))
}

// writeSkeleton writes the kept entries of ix as a tar, parents first.
func writeSkeleton(w io.Writer, ix map[string]*skelEntry, keep map[string]bool) error {
	names := make([]string, 0, len(keep))
	for name := range keep {
		if ix[name] != nil && name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		h := ix[name].hdr
		h.Size = 0
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeSymlink:
		default:
			h.Typeflag, h.Linkname, h.Devmajor, h.Devminor = tar.TypeReg, "", 0, 0
		}
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
	}
	return tw.Close()
}

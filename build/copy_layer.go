package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/ibuild/ibuild/build/buildctx"
	"github.com/ibuild/ibuild/layer"
)

// copier writes the layer of one COPY or ADD.
type copier struct {
	b       *builder
	st      *stageState
	cs      copySpec
	src     *copySource
	mode    *fs.FileMode
	dest    string // absolute destination in the image
	destDir bool   // destination written with a trailing slash
	matches []buildctx.Match
	remote  []remoteFile

	uid, gid int // -1 when --chown is not given
	entries  []entry
	archives []archiveSrc
	buf      []byte // copy buffer, one per layer
}

type archiveSrc struct {
	path string // source-relative path of the archive
	dest string // layer path it is extracted under
}

func (c *copier) writeLayer(ctx context.Context) (*layer.Info, error) {
	root, cleanup, err := c.b.copyRoot(ctx, c.st.layers, c.dest, c.cs.chown)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if c.uid, c.gid, err = resolveChown(root, c.cs.chown); err != nil {
		return nil, err
	}
	if err := c.plan(root); err != nil {
		return nil, err
	}
	wrote := make(chan error, 1)
	pr := layer.Pipe(func(w io.Writer) error {
		err := c.write(w)
		wrote <- err
		return err
	})
	comp, level := c.b.layerCompression(c.st.index)
	info, err := c.b.opt.Store.WriteLayer(ctx, pr, comp, level)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		// The writer's own error (a source that changed size, an ADD
		// archive's bad entry) says more than the store's wrapping of
		// it; the writer stops at its next write to the closed pipe.
		if werr := <-wrote; werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			return nil, werr
		}
		return nil, err
	}
	return &info, nil
}

// plan decides every entry's name, header and content.
func (c *copier) plan(root string) error {
	// As BuildKit v0.17.3: the destination is a directory when written
	// with a trailing slash, when it is one already, or when a source is a
	// directory. Otherwise every file source is copied onto it in turn, the
	// last one winning, whatever their number: BuildKit has no "must be a
	// directory" error (the classic builder had; arguably a BuildKit bug,
	// followed on purpose). A glob matching nothing selected nothing.
	existingDir := false
	if fi, err := statIn(root, c.dest); err == nil && fi.IsDir() {
		existingDir = true
	}
	asDir := c.destDir || existingDir
	srcDir := false
	for _, m := range c.matches {
		if m.IsDir {
			asDir, srcDir = true, true
		}
	}
	// BuildKit makes the destination directory (the parent of a file
	// destination) first, failing on a file in the way.
	mkdir := c.dest
	if !c.destDir {
		mkdir = path.Dir(c.dest)
	}
	if err := checkMkdir(root, mkdir); err != nil {
		return err
	}
	// Resolve the destination through symlinks inside root. A file
	// destination that is a symlink is written through: BuildKit resolves
	// the whole destination path, so the link's target gets the content.
	real, err := securejoin.SecureJoin(root, c.dest)
	if err != nil {
		return fmt.Errorf("resolving destination %s: %w", c.dest, err)
	}
	baseRel, _ := filepath.Rel(root, real)
	baseRel = layer.CleanPath(filepath.ToSlash(baseRel))
	fileName := ""
	if !asDir {
		baseRel, fileName = layer.CleanPath(path.Dir(baseRel)), path.Base(baseRel)
	}
	if srcDir && !existingDir && baseRel != "" {
		// A directory source creates its destination, even when empty:
		// 0755, owned by --chown's user, as BuildKit's MkdirAll.
		c.add(entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: baseRel, Mode: 0o755, ModTime: c.b.opt.epoch()}})
	}
	target := func(rel string) string {
		if !asDir {
			return layer.CleanPath(path.Join(baseRel, fileName))
		}
		return layer.CleanPath(path.Join(baseRel, rel))
	}
	for i, m := range c.matches {
		for _, f := range m.Files {
			if err := c.addSource(f, target(f.Rel), asDir, i+1); err != nil {
				return err
			}
		}
	}
	for _, h := range c.cs.srcs.SourceContents {
		mode := int64(0o644)
		if c.mode != nil {
			mode = int64(*c.mode & fs.ModePerm)
		}
		c.add(entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: target(path.Base(h.Path)), Mode: mode, Size: int64(len(h.Data)), ModTime: c.b.opt.epoch()}, data: []byte(h.Data)})
	}
	for _, rf := range c.remote {
		mode := int64(0o600)
		if c.mode != nil {
			mode = int64(*c.mode & fs.ModePerm)
		}
		c.add(entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: target(rf.name), Mode: mode, Size: rf.size, ModTime: rf.modTime}, file: rf.file})
	}
	c.dedupe()
	if err := c.checkReplace(root); err != nil {
		return err
	}
	c.addParents(root)
	sortEntries(c.entries)
	c.linkHardlinks()
	return nil
}

// dedupe keeps, of entries with the same name, the last planned one: the
// file a later source copies onto the same path replaces the earlier one.
func (c *copier) dedupe() {
	last := map[string]int{}
	for i, e := range c.entries {
		last[e.hdr.Name] = i
	}
	kept := c.entries[:0]
	for i, e := range c.entries {
		if last[e.hdr.Name] == i {
			kept = append(kept, e)
		}
	}
	c.entries = kept
}

func (c *copier) add(e entry) {
	if c.uid >= 0 {
		e.hdr.Uid, e.hdr.Gid = c.uid, c.gid
	}
	c.entries = append(c.entries, e)
}

// addSource adds one selected source file or directory of the src'th
// source argument.
func (c *copier) addSource(f buildctx.Source, name string, asDir bool, src int) error {
	if name == "" || f.Rel == "" || f.Rel == "." {
		return nil // the source directory itself: its destination is made by addParents
	}
	fi := f.Info
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(filepath.Join(c.src.root, f.Path))
		if err != nil {
			return fmt.Errorf("reading link %s: %w", f.Path, err)
		}
		link = target
	}
	// FIFOs and devices are recreated, never opened, as BuildKit's mknod.
	hdr, ok := layer.FileHeader(fi, name, link)
	if !ok {
		return fmt.Errorf("%s: cannot copy %s: not a regular file, directory or symlink", c.cs.name, f.Path)
	}
	if c.src.context {
		hdr.Uid, hdr.Gid = 0, 0 // the context's owners are the client's, not the image's
	}
	if c.mode != nil {
		hdr.Mode = layer.TarMode(*c.mode)
	}
	if hdr.Typeflag != tar.TypeReg {
		c.add(entry{hdr: hdr})
		return nil
	}
	if c.cs.add && (c.cs.unpack == nil || *c.cs.unpack) {
		isArch, err := c.isArchive(f.Path)
		if err != nil {
			return err
		}
		if isArch {
			dir := name
			if asDir {
				dir = path.Dir(name)
			}
			c.archives = append(c.archives, archiveSrc{path: f.Path, dest: dir})
			return nil
		}
	}
	c.add(entry{hdr: hdr, src: f.Path, link: hardlinkKey(src, fi)})
	return nil
}

func (c *copier) isArchive(p string) (bool, error) {
	f, err := c.src.ctx.OpenFile(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return layer.IsArchive(head[:n]), nil
}

// addParents adds the missing parent directories of every entry.
func (c *copier) addParents(root string) {
	have := map[string]bool{}
	for _, e := range c.entries {
		have[e.hdr.Name] = true
	}
	var dirs []string
	for _, a := range c.archives {
		if a.dest != "" && a.dest != "." {
			dirs = append(dirs, a.dest)
		}
	}
	for _, e := range c.entries {
		dirs = append(dirs, path.Dir(e.hdr.Name))
	}
	for _, d := range dirs {
		for ; d != "." && d != "/" && d != ""; d = path.Dir(d) {
			if have[d] {
				continue
			}
			have[d] = true
			if hdr, exists := existingDir(root, d); exists {
				// Restated as it is (not chowned): the layer's snapshot
				// must not give it default metadata.
				if hdr != nil {
					c.entries = append(c.entries, entry{hdr: hdr})
				}
				continue
			}
			c.add(entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: c.b.opt.epoch()}})
		}
	}
}

// existingDir reports whether rel exists in root and, when it is a
// directory, returns a header restating it as it is there: owner, mode and
// time. A layer holding files below an existing directory carries such an
// entry, as BuildKit's (containerd's differ adds every parent), so that the
// layer's extracted snapshot, which overlays the lower layers, does not
// present the directory as root-owned 0755.
func existingDir(root, rel string) (*tar.Header, bool) {
	parent, err := securejoin.SecureJoin(root, path.Dir(rel))
	if err != nil {
		return nil, false
	}
	fi, err := os.Lstat(filepath.Join(parent, path.Base(rel)))
	if err != nil {
		return nil, false
	}
	if !fi.IsDir() {
		return nil, true
	}
	hdr, _ := layer.FileHeader(fi, rel, "")
	return hdr, true
}

// write streams the planned entries and the extracted archives as a tar.
func (c *copier) write(w io.Writer) error {
	epoch := c.b.opt.epoch()
	tw := layer.NewTarWriter(w, layer.TarOptions{SourceDateEpoch: &epoch})
	for _, e := range c.entries {
		if err := tw.WriteHeader(e.hdr); err != nil {
			return err
		}
		if e.hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := c.writeContent(tw, e); err != nil {
			return err
		}
	}
	for _, a := range c.archives {
		if err := c.extract(tw, a); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (c *copier) writeContent(w io.Writer, e entry) error {
	switch {
	case e.data != nil:
		_, err := w.Write(e.data)
		return err
	case e.file != "":
		f, err := os.Open(e.file)
		if err != nil {
			return err
		}
		defer f.Close()
		return copyExactly(w, f, e.hdr.Size, e.file, c.copyBuf())
	}
	f, err := c.src.ctx.OpenFile(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	return copyExactly(w, f, e.hdr.Size, e.src, c.copyBuf())
}

// copyBuf returns the layer's copy buffer: 1 MiB, so that a large file is
// read in few system calls, allocated once per layer rather than per file
// (a COPY of 10,000 small files allocated 10 GiB of read buffers).
func (c *copier) copyBuf() []byte {
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	return c.buf
}

// copyExactly copies size bytes through buf, failing if the file changed
// size.
func copyExactly(w io.Writer, r io.Reader, size int64, name string, buf []byte) error {
	n, err := io.CopyBuffer(w, io.LimitReader(r, size), buf)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("reading %s: file changed size during the build", name)
	}
	return nil
}

// extract writes the entries of a local archive (ADD) under a.dest,
// through layer.Rewrite: an entry that climbs out of the root or goes
// through a symlink the archive made is an error, as with ibuild import.
// Entries keep the archive's owners even with --chown, which BuildKit
// applies only to the directories it creates for the destination
// (solver/llbsolver/file/unpack.go: MkdirAll with the chowner, then a
// plain Untar). Arguably a BuildKit bug, followed on purpose (case
// add-tar-chown-chmod).
func (c *copier) extract(tw *layer.TarWriter, a archiveSrc) error {
	f, err := c.src.ctx.OpenFile(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := layer.Decompress(f, c.b.opt.Store.LayerLimits()...)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", a.path, err)
	}
	defer rc.Close()
	if err := layer.Rewrite(tw, rc, a.dest); err != nil {
		return fmt.Errorf("ADD %s: %w", a.path, err)
	}
	return nil
}

// statIn stats p inside root, following symlinks only within root.
func statIn(root, p string) (fs.FileInfo, error) {
	real, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return nil, err
	}
	return os.Stat(real)
}

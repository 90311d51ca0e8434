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
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/ibuild/ibuild/layer"
)

// workdir sets the working directory and, as BuildKit does, creates it
// (0755, with missing parents, owned by the current USER) when the image
// lacks it. The creation is a step of its own, cached like the others; it
// yields a layer only when something was created.
func (b *builder) workdir(ctx context.Context, st *stageState, c *instructions.WorkdirCommand, loc []bkparser.Range) error {
	st.cfg.Config.WorkingDir = st.workdirPath(c.Path)
	dir := st.cfg.Config.WorkingDir
	createdBy := "WORKDIR " + dir
	return b.step(ctx, st, createdBy, loc, func(ctx context.Context, r *stepRun) (stepResult, error) {
		return b.cached(ctx, st, r, stepPlan{
			key:       chainKey(st.key, "WORKDIR", dir, st.cfg.Config.User, hostPlatform().String()),
			inputs:    map[string]string{"workdir": dir, "user": st.cfg.Config.User},
			createdBy: createdBy,
			exec:      func(ctx context.Context) (*layer.Info, error) { return b.mkdirLayer(ctx, st, dir) },
		})
	})
}

// mkdirLayer returns a layer holding the missing directories of dir, or
// nil when dir already exists in the stage's root filesystem.
func (b *builder) mkdirLayer(ctx context.Context, st *stageState, dir string) (*layer.Info, error) {
	root, cleanup, err := b.copyRoot(ctx, st.layers, dir, st.cfg.Config.User)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	// Through symlinks, as BuildKit's mkdir: WORKDIR /link/sub creates
	// sub in the link's target, never a directory in place of the link.
	real, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dir, err)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil {
		return nil, err
	}
	var missing []string
	for d := layer.CleanPath(filepath.ToSlash(rel)); d != "" && d != "."; d = path.Dir(d) {
		fi, err := statIn(root, d)
		if err == nil && fi.IsDir() {
			break
		}
		if err != nil && !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("WORKDIR %s: %w", dir, err)
		}
		if err == nil || isSymlinkIn(root, d) {
			// A file or a symlink is in the way: leave it to the RUN or
			// COPY that uses the directory, as docker would fail there.
			return nil, nil
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	user := st.cfg.Config.User
	uid, gid := 0, 0
	if user != "" {
		if uid, gid, err = fileOpOwner(root, user); err != nil {
			return nil, err
		}
	}
	epoch := b.opt.epoch()
	var hdrs []*tar.Header
	// The existing parents, restated as they are, then the new directories.
	for d := path.Dir(missing[len(missing)-1]); d != "." && d != "/"; d = path.Dir(d) {
		if hdr, _ := existingDir(root, d); hdr != nil {
			hdrs = append([]*tar.Header{hdr}, hdrs...)
		}
	}
	// As mkdir(2) under BuildKit: in a setgid directory a new directory
	// takes the parent's group (then the USER's, when one is set: BuildKit
	// chowns after mkdir) and the setgid bit, all the way down.
	setgid, parentGid := false, 0
	if fi, err := os.Stat(filepath.Join(root, path.Dir(missing[len(missing)-1]))); err == nil && fi.Mode()&os.ModeSetgid != 0 {
		setgid, parentGid = true, statGid(fi)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: missing[i], Mode: 0o755, Uid: uid, Gid: gid, ModTime: epoch}
		if setgid {
			hdr.Mode |= 0o2000
			if user == "" {
				hdr.Gid = parentGid
			}
		}
		hdrs = append(hdrs, hdr)
	}
	pr := layer.Pipe(func(w io.Writer) error {
		tw := layer.NewTarWriter(w, layer.TarOptions{SourceDateEpoch: &epoch})
		for _, hdr := range hdrs {
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	info, err := b.opt.Store.WriteLayer(ctx, pr, b.opt.Compression, b.opt.CompressionLevel)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

func isSymlinkIn(root, rel string) bool {
	fi, err := os.Lstat(filepath.Join(root, rel))
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

func statGid(fi os.FileInfo) int {
	_, gid := layer.FileOwner(fi)
	return gid
}

package buildctx

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Export writes the context as builds see it into dst, which must not
// exist: every selected directory, regular file and symlink (symlinks as
// links, never followed), with modes, ownership (when running as root) and
// modification times; ignored and excluded files, FIFOs, sockets and
// devices are left out. It is what a RUN --mount=type=bind of the context
// should mount: binding the context directory itself would show the
// command every ignored file. Regular files are copied, so the cost is the
// size of the context.
func (c *Context) Export(ctx context.Context, dst string) (err error) {
	ms, err := c.Select(ctx, []string{"."})
	if err != nil {
		return fmt.Errorf("exporting build context: %w", err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("exporting build context: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	if fi, err := os.Stat(c.dir); err == nil {
		if err := setMeta(dst, fi); err != nil {
			return fmt.Errorf("exporting build context: %w", err)
		}
	}
	files := ms[0].Files
	for _, s := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.exportOne(s, filepath.Join(dst, filepath.FromSlash(s.Rel))); err != nil {
			return fmt.Errorf("exporting build context: %s: %w", s.Path, err)
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(files) - 1; i >= 0; i-- {
		if files[i].Info.IsDir() {
			p := filepath.Join(dst, filepath.FromSlash(files[i].Rel))
			if err := os.Chtimes(p, files[i].Info.ModTime(), files[i].Info.ModTime()); err != nil {
				return fmt.Errorf("exporting build context: %w", err)
			}
		}
	}
	return nil
}

func (c *Context) exportOne(s Source, to string) error {
	switch mode := s.Info.Mode(); {
	case isNode(mode):
		return nil // FIFOs and devices: left out
	case mode.IsDir():
		if err := os.Mkdir(to, 0o700); err != nil {
			return err
		}
		return setMeta(to, s.Info)
	case mode&fs.ModeSymlink != 0:
		target, err := c.readlink(s.Path)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, to); err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			st := statOf(s.Info)
			return os.Lchown(to, int(st.uid), int(st.gid))
		}
		return nil
	default:
		in, err := c.OpenFile(s.Path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := setMeta(to, s.Info); err != nil {
			return err
		}
		return os.Chtimes(to, s.Info.ModTime(), s.Info.ModTime())
	}
}

// setMeta gives p the ownership (as root) and permission bits of fi.
func setMeta(p string, fi fs.FileInfo) error {
	if os.Geteuid() == 0 {
		st := statOf(fi)
		if err := os.Lchown(p, int(st.uid), int(st.gid)); err != nil {
			return err
		}
	}
	return os.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

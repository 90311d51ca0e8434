package layer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// capXattr holds file capabilities, which BuildKit's differ compares.
const capXattr = "security.capability"

// PruneUnchanged removes from the overlayfs upper directory upperdir every
// file (not directory) that is the same as the file at its path in base,
// the merged view of the lower layers, as BuildKit's overlay differ leaves
// such files out of a layer (util/overlay sameDirent): overlayfs copies a
// file up when it is hard-linked, chmodded to its own mode, or opened for
// writing and left as it was. "The same" is BuildKit's rule: equal type,
// mode, owner, device number, file capabilities, size and modification
// time, and, when both times have no sub-second part (tar-extracted
// files), equal content or symlink target. Removing the copy leaves the
// lower file visible, so the upper directory stays the step's snapshot; a
// hard link made to a file of a lower layer then becomes an independent
// file in the layer, as in BuildKit. Opaque directories (and directories
// hiding a non-directory of base) are left alone.
func PruneUnchanged(ctx context.Context, upperdir, base string) error {
	return pruneDir(ctx, upperdir, base, "")
}

func pruneDir(ctx context.Context, upper, base, rel string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Join(upper, rel)
	names, err := readNames(dir)
	if err != nil {
		return fmt.Errorf("pruning %s: %w", dir, err)
	}
	for _, n := range names {
		r := filepath.Join(rel, n)
		full := filepath.Join(upper, r)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			return fmt.Errorf("pruning %s: %w", full, &os.PathError{Op: "lstat", Path: full, Err: err})
		}
		var bst unix.Stat_t
		if err := unix.Lstat(filepath.Join(base, r), &bst); err != nil {
			continue // new in this step (or below a path base lacks)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if bst.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue // replaces a file or symlink: nothing below is shared
			}
			if opaque, err := overlayXattr(full, "opaque"); err == nil && string(opaque) == "y" {
				continue // hides base: its files are the step's own
			}
			if err := pruneDir(ctx, upper, base, r); err != nil {
				return err
			}
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			continue // whiteout
		}
		same, err := sameFile(&bst, &st, filepath.Join(base, r), full)
		if err != nil {
			return fmt.Errorf("pruning %s: %w", full, err)
		}
		if same {
			if err := os.Remove(full); err != nil {
				return fmt.Errorf("pruning %s: %w", full, err)
			}
		}
	}
	return nil
}

// sameFile is BuildKit's sameDirent for two non-directories.
func sameFile(a, b *unix.Stat_t, afull, bfull string) (bool, error) {
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev {
		return false, nil
	}
	ca, err := getXattr(afull, capXattr)
	if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
		return false, err
	}
	cb, err := getXattr(bfull, capXattr)
	if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
		return false, err
	}
	if !bytes.Equal(ca, cb) || a.Size != b.Size || a.Mtim.Sec != b.Mtim.Sec {
		return false, nil
	}
	if a.Mtim.Nsec != 0 || b.Mtim.Nsec != 0 {
		return a.Mtim.Nsec == b.Mtim.Nsec, nil
	}
	switch a.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		ta, err := os.Readlink(afull)
		if err != nil {
			return false, err
		}
		tb, err := os.Readlink(bfull)
		return err == nil && ta == tb, err
	case unix.S_IFREG:
		if a.Size == 0 {
			return true, nil
		}
		return sameContent(afull, bfull)
	}
	return true, nil
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// op is one step of building a test tree, relative to a root.
type op func(t *testing.T, root string)

func mkdir(p string, mode os.FileMode) op {
	return func(t *testing.T, root string) {
		t.Helper()
		full := filepath.Join(root, p)
		must(t, os.MkdirAll(full, 0o755))
		must(t, os.Chmod(full, mode))
	}
}

func file(p, content string, mode os.FileMode) op {
	return func(t *testing.T, root string) {
		t.Helper()
		full := filepath.Join(root, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(content), 0o600))
		must(t, os.Chmod(full, mode))
	}
}

func symlink(p, target string) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, os.Symlink(target, filepath.Join(root, p)))
	}
}

func hardlink(p, existing string) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, os.Link(filepath.Join(root, existing), filepath.Join(root, p)))
	}
}

func mknod(p string, mode uint32, major, minor uint32) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, unix.Mknod(filepath.Join(root, p), mode, int(unix.Mkdev(major, minor))))
		must(t, unix.Chmod(filepath.Join(root, p), mode&0o7777))
	}
}

func chown(p string, uid, gid int) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, os.Lchown(filepath.Join(root, p), uid, gid))
	}
}

func xattr(p, name, value string) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, unix.Lsetxattr(filepath.Join(root, p), name, []byte(value), 0))
	}
}

// chmod is needed after chown, which clears setuid bits.
func chmod(p string, mode os.FileMode) op {
	return func(t *testing.T, root string) {
		t.Helper()
		must(t, os.Chmod(filepath.Join(root, p), mode))
	}
}

func build(t *testing.T, root string, ops ...op) {
	t.Helper()
	for _, o := range ops {
		o(t, root)
	}
}

// richTree covers every kind of file a layer must carry.
func richTree() []op {
	long := strings.Repeat("l", 200)
	deep := strings.Repeat("d/", 40) + "leaf"
	return []op{
		mkdir("bin", 0o755),
		file("bin/su", "#!/bin/su\n", 0o755),
		chown("bin/su", 0, 0),
		chmod("bin/su", 0o4755|os.ModeSetuid),
		file("bin/sgid", "g", 0o755),
		chmod("bin/sgid", 0o2755|os.ModeSetgid),
		mkdir("tmp", 0o777),
		chmod("tmp", 0o777|os.ModeSticky),
		file("secret", "nobody reads me", 0),
		file("owned", "mine", 0o640),
		chown("owned", 1234, 5678),
		symlink("abs", "/etc/passwd"),
		symlink("rel", "../../../../../outside"),
		symlink("dangling", "nowhere"),
		chown("dangling", 42, 43),
		file("hl/a", "shared content", 0o644),
		hardlink("hl/b", "hl/a"),
		hardlink("hl/c", "hl/a"),
		mknod("fifo", unix.S_IFIFO|0o620, 0, 0),
		mknod("null", unix.S_IFCHR|0o666, 1, 3),
		mknod("blk", unix.S_IFBLK|0o660, 7, 0),
		file("xa", "x", 0o644),
		xattr("xa", "user.color", "blue"),
		xattr("xa", "trusted.ibuild", "t"),
		file(long, "long name", 0o644),
		file("bin/\xff\xfe-not-utf8", "latin", 0o644),
		file(deep, "deep", 0o644),
		file("empty", "", 0o644),
	}
}

// listTree describes a tree canonically: every path with type, mode,
// ownership, size, content digest, link target, device numbers, xattrs and
// hard-link group. withTimes adds modification times (seconds).
func listTree(t *testing.T, root string, withTimes bool) string {
	t.Helper()
	var lines []string
	groups := map[devIno]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%q mode=%o uid=%d gid=%d", rel, st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sha=%x", len(b), sha256.Sum256(b))
			if st.Nlink > 1 {
				k := devIno{uint64(st.Dev), st.Ino}
				if _, ok := groups[k]; !ok {
					groups[k] = rel
				}
				line += " link=" + groups[k]
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if withTimes && rel != "." {
			line += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
		}
		x, err := listXattrs(p)
		if err != nil {
			return err
		}
		var names []string
		for k, v := range x {
			if k != "security.selinux" {
				names = append(names, k+"="+v)
			}
		}
		sort.Strings(names)
		if len(names) > 0 {
			line += " xattrs=" + strings.Join(names, ",")
		}
		lines = append(lines, line)
		return nil
	})
	must(t, err)
	return strings.Join(lines, "\n")
}

// setTimes gives every file in root the given times (not following links).
func setTimes(t *testing.T, root string, tm time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(tm.UnixNano()), unix.NsecToTimespec(tm.UnixNano())}
	must(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

func writeDir(t *testing.T, dir, prefix string, opts TarOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, WriteDir(context.Background(), &buf, dir, prefix, opts))
	return buf.Bytes()
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (mknod, chown, trusted xattrs)")
	}
}

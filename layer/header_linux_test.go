package layer

import (
	"archive/tar"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestFileHeader(t *testing.T) {
	dir := t.TempDir()
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("12345"), 0o640))
	must(t, os.Chmod(filepath.Join(dir, "f"), 0o750|fs.ModeSetuid))
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "d"), 0o775|fs.ModeSetgid|fs.ModeSticky))
	must(t, os.Symlink("f", filepath.Join(dir, "l")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "p"), 0o600))
	for _, n := range []string{"f", "d", "p"} {
		must(t, os.Chtimes(filepath.Join(dir, n), when, when))
	}
	sock, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	uid, gid := os.Getuid(), os.Getgid()
	cases := []struct {
		path, link string
		want       *tar.Header // nil: not a type a layer holds
	}{
		{path: filepath.Join(dir, "f"), want: &tar.Header{Typeflag: tar.TypeReg, Mode: 0o4750, Size: 5, ModTime: when}},
		{path: filepath.Join(dir, "d"), want: &tar.Header{Typeflag: tar.TypeDir, Mode: 0o3775, ModTime: when}},
		{path: filepath.Join(dir, "l"), link: "f", want: &tar.Header{Typeflag: tar.TypeSymlink, Linkname: "f", Mode: 0o777}},
		{path: filepath.Join(dir, "p"), want: &tar.Header{Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: when}},
		{path: "/dev/null", want: &tar.Header{Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{path: filepath.Join(dir, "s")},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			fi, err := os.Lstat(c.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := FileHeader(fi, "x/"+filepath.Base(c.path), c.link)
			if c.want == nil {
				if ok {
					t.Fatalf("FileHeader accepted a socket: %+v", got)
				}
				return
			}
			if !ok {
				t.Fatal("FileHeader refused the file")
			}
			w := c.want
			if got.Name != "x/"+filepath.Base(c.path) || got.Typeflag != w.Typeflag || got.Mode != w.Mode || got.Size != w.Size ||
				got.Linkname != w.Linkname || got.Devmajor != w.Devmajor || got.Devminor != w.Devminor {
				t.Errorf("got %c mode %o size %d link %q dev %d,%d; want %c mode %o size %d link %q dev %d,%d",
					got.Typeflag, got.Mode, got.Size, got.Linkname, got.Devmajor, got.Devminor,
					w.Typeflag, w.Mode, w.Size, w.Linkname, w.Devmajor, w.Devminor)
			}
			if c.path != "/dev/null" && (got.Uid != uid || got.Gid != gid) {
				t.Errorf("owner %d:%d, want %d:%d", got.Uid, got.Gid, uid, gid)
			}
			if !w.ModTime.IsZero() && !got.ModTime.Equal(w.ModTime) {
				t.Errorf("time %v, want %v", got.ModTime, w.ModTime)
			}
		})
	}
}

func TestTarMode(t *testing.T) {
	for m, want := range map[fs.FileMode]int64{
		0o644: 0o644, fs.ModeDir | 0o755: 0o755, fs.ModeSetuid | 0o755: 0o4755,
		fs.ModeSetgid | fs.ModeSticky | 0o700: 0o3700, fs.ModeSymlink | 0o777: 0o777,
	} {
		if got := TarMode(m); got != want {
			t.Errorf("TarMode(%v) = %o, want %o", m, got, want)
		}
	}
}

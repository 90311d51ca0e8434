package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// TestPullImageExtractsWhileDownloading pulls a three-layer base from a
// real registry on 127.0.0.1 with Store.PullImage, which extracts each
// layer while it downloads: every snapshot exists when the pull returns
// and equals the one WriteImage followed by Store.Snapshot makes. Through
// a proxy that flips the bytes of one layer blob the pull fails and
// leaves neither that blob nor any snapshot (nor a half-made one).
func TestPullImageExtractsWhileDownloading(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (snapshots hold whiteout devices and foreign owners)")
	}
	ctx := context.Background()
	host := registrytest.Start(t)
	tm := time.Unix(1_600_000_000, 0)
	layers := [][]*tar.Header{
		{{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "etc/os", Size: 6, Mode: 0o644},
			{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "bin/sh", Size: 6, Mode: 0o4755, Uid: 7, Gid: 8},
			{Name: "bin/ash", Typeflag: tar.TypeLink, Linkname: "bin/sh"}, {Name: "lib", Typeflag: tar.TypeSymlink, Linkname: "usr/lib"}},
		{{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o700}, {Name: "etc/.wh.os"}, {Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		{{Name: "var/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "var/.wh..wh..opq"}, {Name: "var/log", Size: 6, Mode: 0o600}},
	}
	img := empty.Image
	for _, hs := range layers {
		raw := pullTestTar(t, hs, tm)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
		pullMust(t, err)
		img, err = mutate.AppendLayers(img, l)
		pullMust(t, err)
	}
	ref := host + "/test/base:1"
	pullMust(t, registry.Push(ctx, img, ref))
	infos := pullTestInfos(t, img)

	pulled, err := cache.Open(ctx, t.TempDir())
	pullMust(t, err)
	remote, err := registry.Image(ctx, ref)
	pullMust(t, err)
	_, err = pulled.PullImage(ctx, remote)
	pullMust(t, err)
	before, err := cache.Open(ctx, t.TempDir())
	pullMust(t, err)
	_, err = before.WriteImage(ctx, remote)
	pullMust(t, err)
	for i, info := range infos {
		snap := filepath.Join(pulled.Root(), "snapshots", info.DiffID.Hex)
		if _, err := os.Stat(snap); err != nil {
			t.Fatalf("layer %d: no snapshot after the pull: %v", i, err)
		}
		want, err := before.Snapshot(ctx, info)
		pullMust(t, err)
		if got, want := pullTestTree(t, snap), pullTestTree(t, want); got != want {
			t.Errorf("layer %d: snapshot made while pulling differs:\n%s\nwant:\n%s", i, got, want)
		}
	}

	bad := infos[1].Digest
	proxy := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.WrongBytes, Path: "/blobs/" + bad.String(), Persistent: true})
	store, err := cache.Open(ctx, t.TempDir())
	pullMust(t, err)
	remote, err = registry.Image(ctx, proxy.Host+"/test/base:1")
	pullMust(t, err)
	if _, err := store.PullImage(ctx, remote); err == nil || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("pull through a proxy serving wrong bytes: err = %v, want one naming %s", err, bad)
	}
	if store.HasBlob(bad) {
		t.Errorf("blob %s stored from wrong bytes", bad)
	}
	if ents, _ := os.ReadDir(filepath.Join(store.Root(), "snapshots")); len(ents) > 0 {
		for _, e := range ents {
			if e.Name() == infos[1].DiffID.Hex || strings.HasPrefix(e.Name(), ".tmp") {
				t.Errorf("snapshots/%s left behind by the failed pull", e.Name())
			}
		}
	}
}

func pullTestTar(t *testing.T, hs []*tar.Header, tm time.Time) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		h.ModTime = tm
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		pullMust(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte(strings.Repeat("x", int(h.Size-1)) + "\n"))
			pullMust(t, err)
		}
	}
	pullMust(t, tw.Close())
	return buf.Bytes()
}

func pullMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pullTestInfos describes the layers of img as a store does.
func pullTestInfos(t testing.TB, img v1.Image) []layer.Info {
	t.Helper()
	m, err := img.Manifest()
	pullMust(t, err)
	cf, err := img.ConfigFile()
	pullMust(t, err)
	var infos []layer.Info
	for i, d := range m.Layers {
		infos = append(infos, layer.Info{Digest: d.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: d.Size, MediaType: d.MediaType})
	}
	return infos
}

// pullTestTree lists a snapshot: path, mode, owner, content digest, link
// target, device numbers, mtime and xattrs.
func pullTestTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	pullMust(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o %d:%d nlink=%d", rel, st.Mode, st.Uid, st.Gid, st.Nlink)
		// The root and whiteouts (0/0 devices, which carry no metadata of
		// the layer) have the time they were made.
		if whiteout := st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0; rel != "." && !whiteout {
			line += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		buf := make([]byte, 4096)
		if n, err := unix.Llistxattr(p, buf); err == nil && n > 0 {
			for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
				v := make([]byte, 256)
				m, _ := unix.Lgetxattr(p, k, v)
				line += fmt.Sprintf(" %s=%q", k, v[:max(m, 0)])
			}
		}
		lines = append(lines, line)
		return nil
	}))
	return strings.Join(lines, "\n")
}

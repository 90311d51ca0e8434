package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layerMtime returns the modification time of name in the first layer of
// img that holds it.
func layerMtime(t *testing.T, img v1.Image, name string) time.Time {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimPrefix(hdr.Name, "./") == name {
				rc.Close()
				return hdr.ModTime.UTC()
			}
		}
		rc.Close()
	}
	t.Fatalf("no layer holds %s", name)
	return time.Time{}
}

// TestDefaultEpoch is issue #10 defect 3: without SOURCE_DATE_EPOCH the
// clamp and the image's dates are the commit time of the context's git
// HEAD, else 1980-01-01 (zip and wheels reject earlier times; 1970 was the
// default); SOURCE_DATE_EPOCH wins over both.
func TestDefaultEpoch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git not installed: %v", err)
	}
	const commitTime = 1700000000
	cases := []struct {
		name string
		git  bool
		env  []string
		want time.Time
	}{
		{"neither git nor SOURCE_DATE_EPOCH", false, nil, time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"git HEAD commit time", true, nil, time.Unix(commitTime, 0).UTC()},
		{"SOURCE_DATE_EPOCH over git", true, []string{"SOURCE_DATE_EPOCH=1600000000"}, time.Unix(1600000000, 0).UTC()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := busyboxRoot(t) // a root each: the cache is not under test here
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{
				"Dockerfile": "FROM busybox\nCOPY f /f\nRUN stat -c %Y /f > /copied-mtime\n",
				"f":          "f",
			})
			if tc.git {
				for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "x"}} {
					cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
					cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=@"+strconv.Itoa(commitTime)+" +0000", "GIT_AUTHOR_DATE=@1500000000 +0000")
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("git %v: %v\n%s", args, err, out)
					}
				}
			}
			out := t.TempDir()
			oci, local := filepath.Join(out, "oci"), filepath.Join(out, "rootfs")
			r := run(t, "", tc.env, "--root", root, "--progress", "plain", "-t", "epoch:1",
				"-o", "type=oci,dest="+oci, "-o", "type=local,dest="+local, dir)
			if r.err != nil {
				t.Fatalf("build: %v\n%s", r.err, r.stderr)
			}
			img := ociImage(t, oci)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !cf.Created.Time.Equal(tc.want) {
				t.Errorf("image created %s, want %s", cf.Created.Time.UTC(), tc.want)
			}
			for _, h := range cf.History {
				if h.Comment == "buildkit.dockerfile.v0" && !h.Created.Time.Equal(tc.want) {
					t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created.Time.UTC(), tc.want)
				}
			}
			if got := layerMtime(t, img, "f"); !got.Equal(tc.want) {
				t.Errorf("COPYed f dated %s in its layer, want %s", got, tc.want)
			}
			if got, want := strings.TrimSpace(readOut(t, local, "copied-mtime")), strconv.FormatInt(tc.want.Unix(), 10); got != want {
				t.Errorf("RUN saw f dated %s, want %s", got, want)
			}
		})
	}
}

func TestCommitterTime(t *testing.T) {
	cases := []struct {
		name, commit string
		want         int64
		ok           bool
	}{
		{"plain", "tree abc\nauthor A <a@x> 1 +0000\ncommitter C D <c@x> 1700000000 +0100\n\nmsg committer X <x> 5 +0000\n", 1700000000, true},
		{"name with >", "tree abc\ncommitter C > D <c@x> 42 -0500\n\n", 42, true},
		{"committer only in message", "tree abc\n\ncommitter X <x> 5 +0000\n", 0, false},
		{"malformed", "committer C <c@x> soon +0000\n", 0, false},
	}
	for _, c := range cases {
		got, err := committerTime([]byte(c.commit))
		if (err == nil) != c.ok || (c.ok && got.Unix() != c.want) {
			t.Errorf("%s: %v, %v; want %d ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
}

package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ibuild/ibuild/internal/testbase"
)

// nobody is the unprivileged host user the store tests attack as.
const nobody = 65534

// asNobody runs name with args as uid and gid 65534 and returns its output.
func asNobody(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openToOthers makes dir and its parents up to /tmp traversable by every
// user, as a state directory under a world-readable path would be, so that
// only the store's own modes stand between another user and its files.
func openToOthers(t *testing.T, dir string) {
	t.Helper()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBreakoutStorePrivate is CVE-2021-41103 for ibuild: an image with a
// setuid-root file and a 0640 /etc/shadow, built into a store under a
// world-traversable path. Another host user must neither run the setuid
// file out of snapshots/ (euid 0) nor read the shadow file out of the
// layer blob, both on a new store and on an older one whose directories
// were created 0755 and that is opened again.
func TestBreakoutStorePrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test switches to uid 65534 and builds setuid-root files")
	}
	base := t.TempDir()
	openToOthers(t, base)
	root := filepath.Join(base, "state")
	ctxDir := filepath.Join(base, "ctx")
	writeTree(t, ctxDir, map[string]string{
		"shadow":     "root:$6$CANARY-SHADOW-HASH:19000:0:99999:7:::\n",
		"Dockerfile": "FROM busybox\nCOPY --chmod=4755 id /bin/suid-id\nCOPY --chmod=0640 shadow /etc/shadow\nRUN true\n",
	})
	copyFile(t, "/usr/bin/id", filepath.Join(ctxDir, "id"))

	// Control: the same setuid copy in a directory others can reach gives
	// uid 65534 euid 0, so a failure below is the store's doing.
	control := filepath.Join(base, "control-id")
	copyFile(t, "/usr/bin/id", control)
	if err := os.Chmod(control, fs.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := asNobody(control, "-u"); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("control: setuid id as nobody = %q, %v; want euid 0", out, err)
	}

	mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
	mustRun(t, "--root", root, "-t", "hostile", ctxDir)
	suid, blob := findSetuid(t, root), findShadowBlob(t, root)

	attack := func(t *testing.T) {
		t.Helper()
		if out, err := asNobody(suid, "-u"); err == nil {
			t.Errorf("nobody ran %s from the store: euid %s", suid, strings.TrimSpace(out))
		}
		if out, err := asNobody("/bin/cat", blob); err == nil || strings.Contains(out, "CANARY") {
			t.Errorf("nobody read the layer blob %s", blob)
		}
		fi, err := os.Stat(root)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("state directory mode = %v, want 0700", fi.Mode().Perm())
		}
		for _, d := range []string{"snapshots", "blobs", "ingest", "mounts", "steps", "cache-mounts", "sandbox"} {
			fi, err := os.Stat(filepath.Join(root, d))
			if err != nil {
				t.Errorf("%s: %v", d, err)
			} else if fi.Mode() != fs.ModeDir|0o700 {
				t.Errorf("%s: mode %v, want drwx------", d, fi.Mode())
			}
		}
	}
	t.Run("new store", attack)

	// An older store: everything 0755, blobs 0644. Opening it again
	// (any command) must take it back.
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && !strings.Contains(p, "/snapshots/") {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if out, err := asNobody(suid, "-u"); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("opened-up store: nobody ran %s: %q, %v; want euid 0 (the attack this test guards against)", suid, out, err)
	}
	mustRun(t, "--root", root, "images")
	t.Run("reopened old store", attack)
}

// findSetuid returns the extracted /bin/suid-id in the store's snapshots.
func findSetuid(t *testing.T, root string) string {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(root, "snapshots"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "suid-id" {
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSetuid != 0 {
				found = p
			}
		}
		return nil
	})
	if found == "" {
		t.Fatal("no setuid suid-id in the store's snapshots")
	}
	return found
}

// findShadowBlob returns the layer blob that holds the canary shadow file.
func findShadowBlob(t *testing.T, root string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(root, "blobs", "sha256", e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(zr)
		if bytes.Contains(data, []byte("CANARY-SHADOW-HASH")) {
			return p
		}
	}
	t.Fatal("no blob holds the shadow file")
	return ""
}

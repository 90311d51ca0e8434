package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// keptMountPoints are the mount points that, like runc under BuildKit, the
// sandbox leaves in the step's layer when the image lacks them: BuildKit
// removes only the stubs of /etc/hosts, /etc/resolv.conf and RUN --mount
// targets (executor.MountStubsCleaner), so the first RUN on a root file
// system without /proc, /dev or /sys commits them as empty 0755 directories.
var keptMountPoints = map[string]bool{"/proc": true, "/dev": true, "/sys": true}

// makeStubLayer fills dir, which becomes the bottom-most overlay lower layer,
// with an empty directory or file for every mount target of spec but the
// keptMountPoints, which the sandbox creates in the merged tree. The merged
// tree then has the other mount points without anything being written to
// the upper directory.
func makeStubLayer(dir string, spec Spec) error {
	dirs, files := mountTargets(spec)
	for _, d := range dirs {
		if keptMountPoints[path.Clean(d)] {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			continue // also a directory target; the mount will report the clash
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sweepStubs removes from upper the mount-point stubs that were created in
// the merged tree during the step (by the sandbox, or by an OCI runtime,
// because the stub layer was shadowed), so that they do not leak into the
// layer. paths are container paths; an entry is removed only if it is still
// an empty file or directory and no lower layer has that path.
func sweepStubs(upper string, lowers []string, paths []string) {
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		p = path.Clean("/" + p)
		if p == "/" || keptMountPoints[p] || inAnyLower(lowers, p) || hasSymlinkParent(upper, p) {
			continue
		}
		full := filepath.Join(upper, p)
		fi, err := os.Lstat(full)
		if err != nil {
			continue
		}
		switch {
		case fi.Mode().IsRegular() && fi.Size() == 0:
			_ = os.Remove(full)
		case fi.IsDir():
			_ = os.Remove(full) // fails, as wanted, unless empty
		}
	}
}

func inAnyLower(lowers []string, p string) bool {
	for _, l := range lowers {
		if _, err := os.Lstat(filepath.Join(l, p)); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// hasSymlinkParent reports whether a parent of p inside root is not a plain
// directory, so that a lexical join would leave root.
func hasSymlinkParent(root, p string) bool {
	cur := root
	parts := strings.Split(strings.Trim(path.Dir(p), "/"), "/")
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return !errors.Is(err, fs.ErrNotExist)
		}
		if !fi.IsDir() {
			return true
		}
	}
	return false
}

// stubPaths lists every container path that may have been created as a
// mount-point stub, parents included.
func stubPaths(spec Spec, extra []string) []string {
	dirs, files := mountTargets(spec)
	all := append(append(append([]string{}, dirs...), files...), extra...)
	all = append(all, "/dev/pts", "/dev/shm", "/dev/mqueue")
	seen := map[string]bool{}
	var out []string
	for _, p := range all {
		for q := path.Clean(p); q != "/" && q != "."; q = path.Dir(q) {
			if !seen[q] {
				seen[q] = true
				out = append(out, q)
			}
		}
	}
	return out
}

// existingPaths records which of the possible mount-point stubs already
// exist in spec.Rootfs before the step (nil in overlay mode).
func existingPaths(spec Spec) map[string]bool {
	if spec.Rootfs == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range stubPaths(spec, nil) {
		if hasSymlinkParent(spec.Rootfs, p) {
			m[p] = true // never touched by the sweep
			continue
		}
		if _, err := os.Lstat(filepath.Join(spec.Rootfs, p)); err == nil {
			m[p] = true
		}
	}
	return m
}

// sweepCreated removes from a plain rootfs the mount-point stubs created
// during the step (by the sandbox or an OCI runtime): paths that did not
// exist before and are still an empty file or directory.
func sweepCreated(rootfs string, existed map[string]bool, paths []string) {
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		p = path.Clean("/" + p)
		if p == "/" || keptMountPoints[p] || existed[p] || hasSymlinkParent(rootfs, p) {
			continue
		}
		full := filepath.Join(rootfs, p)
		fi, err := os.Lstat(full)
		if err != nil {
			continue
		}
		if (fi.Mode().IsRegular() && fi.Size() == 0) || fi.IsDir() {
			_ = os.Remove(full) // a directory only if empty
		}
	}
}

// PrepareRootfs creates in spec.Rootfs every mount point the sandbox needs
// that is missing there (empty directories and files, as the stub layer
// does for an overlay), so that a differ comparing the tree before and
// after the step sees only what the command changed. The keptMountPoints
// are left to the sandbox, which creates them during the step, so that the
// differ sees them as BuildKit's does. Paths resolve inside the rootfs.
func PrepareRootfs(spec Spec) error {
	dirs, files := mountTargets(spec)
	for _, d := range dirs {
		if keptMountPoints[path.Clean(d)] {
			continue
		}
		p, err := securejoin.SecureJoin(spec.Rootfs, d)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", d, err)
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", d, err)
		}
	}
	for _, f := range files {
		p, err := securejoin.SecureJoin(spec.Rootfs, f)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", f, err)
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", f, err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return fmt.Errorf("mount point %s: %w", f, err)
		}
	}
	return nil
}

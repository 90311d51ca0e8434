// Package atomicfile replaces small files so that a crash leaves either the
// old content or the new, never a mix, and the new content is on disk when
// WriteFile returns. It is ibuild's one such writer: the store's metadata
// (index.json, step records, explanations) and OCI layout output use it.
//
// This package imports nothing from ibuild.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to a temporary file beside path (named
// ".tmp-<base>-*", which store sweeps recognise), fsyncs it, gives it mode
// perm, renames it over path and fsyncs the directory. On error path is
// unchanged and the temporary file is removed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename into it is durable. EINVAL,
// returned by file systems that cannot sync directories, is ignored.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

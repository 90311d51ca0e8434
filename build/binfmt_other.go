//go:build !linux

package build

import "errors"

// InstallEmulators registers QEMU's emulators with binfmt_misc, on Linux
// only.
func InstallEmulators(dir, binDir string) ([]string, error) {
	return nil, errors.New("binfmt_misc emulators exist on Linux only")
}

package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MountBinfmtMisc mounts the kernel's binfmt_misc file system at dir
// (normally /proc/sys/fs/binfmt_misc), where emulators for foreign
// platforms are registered. It needs root.
func MountBinfmtMisc(dir string) error {
	if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", 0, ""); err != nil {
		return fmt.Errorf("mounting binfmt_misc at %s: %w", dir, err)
	}
	return nil
}

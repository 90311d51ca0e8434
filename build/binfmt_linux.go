package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibuild/ibuild/build/rootfs"
)

// InstallEmulators registers, in the binfmt_misc file system at dir (""
// is DefaultBinfmtDir, mounted first if it is not), QEMU's user-mode
// emulators found in binDir as qemu-<arch>-static, for every architecture
// ibuild can emulate but the host's, with the fix-binary (F) flag: the
// kernel opens the emulator when it is registered, so that it runs inside
// a RUN step's root, which lacks it. An architecture already registered
// with F is left alone; one registered without it is replaced. It returns
// the handlers it registered. It needs root.
func InstallEmulators(dir, binDir string) ([]string, error) {
	if dir == "" {
		dir = DefaultBinfmtDir
	}
	if err := checkBinfmtMounted(dir); err != nil {
		if err := rootfs.MountBinfmtMisc(dir); err != nil {
			return nil, err
		}
	}
	host := hostPlatform()
	var done []string
	for _, e := range emulators {
		if nativePlatform(host, v1Platform(e.arch)) {
			continue
		}
		bin := filepath.Join(binDir, "qemu-"+e.qemu+"-static")
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		st, err := readHandler(dir, e)
		if err != nil {
			return done, err
		}
		if st.Registered && st.Enabled && st.FixBinary {
			continue
		}
		if st.Registered {
			if err := os.WriteFile(filepath.Join(dir, st.Handler), []byte("-1"), 0); err != nil {
				return done, fmt.Errorf("removing binfmt_misc handler %s: %w", st.Handler, err)
			}
		}
		line := fmt.Sprintf(":%s:M::%s:%s:%s:F", st.Handler, e.magic, e.mask, bin)
		if err := os.WriteFile(filepath.Join(dir, "register"), []byte(line), 0); err != nil {
			return done, fmt.Errorf("registering %s: %w", st.Handler, err)
		}
		done = append(done, st.Handler)
	}
	if len(done) == 0 {
		if _, err := os.Stat(filepath.Join(binDir, "qemu-aarch64-static")); errors.Is(err, os.ErrNotExist) && host.Architecture != "arm64" {
			return nil, fmt.Errorf("no qemu-*-static emulators in %s: install Debian's qemu-user-static", binDir)
		}
	}
	return done, nil
}

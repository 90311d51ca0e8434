package testbase

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// BinfmtDir is where binfmt_misc is mounted.
const BinfmtDir = "/proc/sys/fs/binfmt_misc"

// aarch64Handler registers Debian's qemu-aarch64-static for arm64 ELF
// binaries with the fix-binary flag (magic and mask from QEMU's
// qemu-binfmt-conf.sh).
const aarch64Handler = `:qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F`

// binfmtState is what EmulateARM64 changed, shared by the test binaries
// using it at the same time (under a file lock), so that the last one
// puts the machine back as it found it.
type binfmtState struct {
	Users      int  `json:"users"`
	Mounted    bool `json:"mounted"`    // we mounted binfmt_misc
	Registered bool `json:"registered"` // we registered qemu-aarch64
}

const (
	binfmtLock      = "/tmp/ibuild-test-binfmt.lock"
	binfmtStateFile = "/tmp/ibuild-test-binfmt.json"
)

// EmulateARM64 makes linux/arm64 binaries run here through binfmt_misc and
// qemu-aarch64-static (fix-binary flag) for the rest of t, mounting
// binfmt_misc and registering the handler if needed; when the last test
// using it ends, what it did is undone. It skips t (fails it under $CI)
// when that is impossible: not root, no qemu-user-static, a kernel without
// binfmt_misc. A handler already registered is used as it is.
func EmulateARM64(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/qemu-aarch64-static"); err != nil {
		unavailable(t, fmt.Errorf("no /usr/bin/qemu-aarch64-static (apt-get install qemu-user-static): %w", err))
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: registering a binfmt_misc emulator needs root")
	}
	err := withBinfmtLock(func(st *binfmtState) error {
		if _, err := os.Stat(filepath.Join(BinfmtDir, "status")); err != nil {
			if err := unix.Mount("binfmt_misc", BinfmtDir, "binfmt_misc", 0, ""); err != nil {
				return fmt.Errorf("mounting binfmt_misc: %w", err)
			}
			st.Mounted = true
		}
		if _, err := os.Stat(filepath.Join(BinfmtDir, "qemu-aarch64")); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(filepath.Join(BinfmtDir, "register"), []byte(aarch64Handler), 0); err != nil {
				return fmt.Errorf("registering qemu-aarch64: %w", err)
			}
			st.Registered = true
		}
		st.Users++
		return nil
	})
	if errors.Is(err, unix.ENODEV) {
		// Even under $CI: the kernel lacks the feature, nothing installs it.
		t.Skipf("skipping: this kernel has no binfmt_misc: %v", err)
	}
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		err := withBinfmtLock(func(st *binfmtState) error {
			st.Users--
			if st.Users > 0 {
				return nil
			}
			if st.Registered {
				if err := os.WriteFile(filepath.Join(BinfmtDir, "qemu-aarch64"), []byte("-1"), 0); err != nil {
					return err
				}
				st.Registered = false
			}
			if st.Mounted {
				if err := unix.Unmount(BinfmtDir, 0); err != nil {
					return err
				}
				st.Mounted = false
			}
			return nil
		})
		if err != nil {
			t.Errorf("restoring binfmt_misc: %v", err)
		}
	})
}

// withBinfmtLock runs fn on the shared state under an exclusive lock and
// saves it (removing the file once nothing is left to undo).
func withBinfmtLock(fn func(*binfmtState) error) error {
	f, err := os.OpenFile(binfmtLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closed next
	var st binfmtState
	if data, err := os.ReadFile(binfmtStateFile); err == nil {
		json.Unmarshal(data, &st) //nolint:errcheck // a bad file counts as empty
	}
	ferr := fn(&st)
	if st.Users <= 0 && !st.Mounted && !st.Registered {
		os.Remove(binfmtStateFile)
		return ferr
	}
	data, _ := json.Marshal(st)
	if err := os.WriteFile(binfmtStateFile, data, 0o600); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

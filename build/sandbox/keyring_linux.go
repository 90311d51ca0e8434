package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// joinSessionKeyring gives the calling thread (which execs the command) a
// new anonymous session keyring named after the step, as runc does, so
// that the command cannot reach the keys of the builder's session keyring.
// The user keyring of uid 0 is shared by every root process of the host;
// docker's seccomp profile is what keeps the command from calling keyctl.
func joinSessionKeyring(id string) error {
	kr, err := unix.KeyctlJoinSessionKeyring("_ses." + id)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// A kernel without keyrings has nothing to leak; a builder that
		// may not call keyctl (itself in a container under docker's seccomp
		// profile) passes that filter on to the command, which then cannot
		// call keyctl either.
		return nil
	}
	if err != nil {
		return fmt.Errorf("joining a new session keyring: %w", err)
	}
	// Let the command's user search it, as runc does (KEY_USR_SEARCH).
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, kr)
	if err != nil {
		return fmt.Errorf("describing the session keyring: %w", err)
	}
	fields := strings.Split(desc, ";")
	if len(fields) < 5 {
		return fmt.Errorf("describing the session keyring: unexpected %q", desc)
	}
	perm, err := strconv.ParseUint(fields[3], 16, 32)
	if err != nil {
		return fmt.Errorf("describing the session keyring: %w", err)
	}
	if err := unix.KeyctlSetperm(kr, uint32(perm)|0x080000); err != nil {
		return fmt.Errorf("setting the session keyring's permissions: %w", err)
	}
	return nil
}

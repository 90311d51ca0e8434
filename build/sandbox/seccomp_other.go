//go:build !linux

package sandbox

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompProfile is only available on Linux.
func seccompProfile(opt string) (*specs.LinuxSeccomp, error) {
	if opt == "unconfined" {
		return nil, nil
	}
	return nil, errors.New("seccomp profiles are only supported on linux")
}

package seccomp

import (
	"fmt"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Unconfined is the --security-opt seccomp= value that turns the filter off.
const Unconfined = "unconfined"

// Profile resolves a --security-opt seccomp= value as docker does: "" is
// docker's default profile (github.com/moby/profiles/seccomp), Unconfined
// is no filter (nil), and anything else is the text of a docker JSON
// profile. Rules that depend on capabilities are resolved against caps,
// the bounding set of the command; kernel-version rules against the
// running kernel.
func Profile(opt string, caps []string) (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	switch opt {
	case Unconfined:
		return nil, nil
	case "":
		p, err := mobyseccomp.GetDefaultProfile(rs)
		if err != nil {
			return nil, fmt.Errorf("loading the default seccomp profile: %w", err)
		}
		return p, nil
	}
	p, err := mobyseccomp.LoadProfile(opt, rs)
	if err != nil {
		return nil, fmt.Errorf("loading seccomp profile: %w", err)
	}
	return p, nil
}

package build

import (
	"errors"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Network modes of RUN, as BuildKit's: the step's own private network
// (NetworkDefault, BuildKit's "sandbox"), the builder's (NetworkHost), or
// only loopback (NetworkNone). The mode is part of the step's cache key,
// as the network mode is part of BuildKit's ExecOp.
const (
	NetworkDefault = "default"
	NetworkHost    = "host"
	NetworkNone    = "none"
)

// errNetworkHost is BuildKit's refusal of RUN --network=host without the
// entitlement.
var errNetworkHost = errors.New("network.host is not allowed: RUN --network=host needs the network.host entitlement (--allow network.host, or --network host for every RUN)")

// runNetwork is the network mode of a RUN step, picked as BuildKit's
// Dockerfile frontend does: the instruction's --network, unless absent or
// "default", else the build's (Options.Run.Network, NetworkDefault when
// empty). An instruction's --network=host needs the network.host
// entitlement: Options.Run.AllowNetworkHost, or a build whose network is
// host. It is checked before the cache, as BuildKit checks entitlements
// before solving.
func (b *builder) runNetwork(c *instructions.RunCommand) (string, error) {
	build := b.opt.Run.Network
	if build == "" {
		build = NetworkDefault
	}
	switch n := string(instructions.GetNetwork(c)); n {
	case "", NetworkDefault:
		return build, nil
	case NetworkHost:
		if build != NetworkHost && !b.opt.Run.AllowNetworkHost {
			return "", errNetworkHost
		}
		return n, nil
	default:
		return n, nil // the parser accepts only none besides
	}
}

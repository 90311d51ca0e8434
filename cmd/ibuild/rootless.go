package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/internal/rootless"
	"github.com/ibuild/ibuild/layer"
)

// noNamespaceCommands need no user namespace when run by a user other than
// root: they read nothing of the store that only its namespace can read.
var noNamespaceCommands = []string{"version", "help", "completion", "__complete", "__completeNoDesc",
	"login", "logout", "--version", "-v", "-h", "--help"}

// enterRootless re-executes ibuild in a user namespace when a user other
// than root runs a command that needs one (see package rootless); it
// returns in the process that goes on.
func enterRootless(args []string) error {
	if len(args) < 2 || slices.Contains(noNamespaceCommands, args[1]) {
		return nil
	}
	return rootless.Enter()
}

// rootlessDefaultRoot is the default state directory of a rootless
// builder ("" for root): $XDG_DATA_HOME/ibuild, ~/.local/share/ibuild.
func rootlessDefaultRoot() string {
	if _, ok := rootless.Current(); !ok && os.Geteuid() == 0 {
		return ""
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "ibuild")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "ibuild")
}

// rootlessWarnings prints, once per build, what a rootless builder cannot
// do here: RUN steps without cgroup limits where the cgroup hierarchy is
// not delegated to the user.
func rootlessWarnings(w io.Writer, iso string) error {
	if _, ok := rootless.Current(); !ok && probe == nil {
		return nil
	}
	if iso == sandbox.IsolationOCI {
		return fmt.Errorf("--isolation=oci is not supported in a rootless build (the builtin engine is); run as root for it")
	}
	if probe != nil {
		return nil // runs no RUN step: no cgroup to warn about
	}
	cgroupWarning.Do(func() {
		if why := sandbox.CgroupsUnavailable(); why != "" {
			fmt.Fprintln(w, "WARNING: rootless: RUN steps run without cgroup limits (--memory, --pids-limit, --cpu-quota): "+why)
		}
	})
	return nil
}

// cgroupWarning prints the cgroup warning once per command (compare runs
// several builds).
var cgroupWarning sync.Once

// lostOwners collects the files whose owners a rootless builder without
// subordinate ids could not keep (they are stored as root).
var lostOwners struct {
	mu    sync.Mutex
	n     int
	first []string
}

// rootlessLayerOptions are the extraction options of a rootless builder:
// with only the user mapped, an owner that is not mapped becomes root and
// is reported (see warnLostOwners).
func rootlessLayerOptions() []layer.Option {
	info, ok := rootless.Current()
	if !ok || info.SubIDs {
		return nil
	}
	return []layer.Option{layer.WithOwners(layer.OwnerPolicy{
		Mapped: func(id int, group bool) bool {
			if group {
				return rootless.Mapped(info.GIDMap, uint32(id))
			}
			return rootless.Mapped(info.UIDMap, uint32(id))
		},
		Lost: func(name string, uid, gid int) {
			lostOwners.mu.Lock()
			defer lostOwners.mu.Unlock()
			lostOwners.n++
			if len(lostOwners.first) < 5 {
				lostOwners.first = append(lostOwners.first, fmt.Sprintf("/%s (%d:%d)", name, uid, gid))
			}
		},
	})}
}

// warnLostOwners says which files' owners could not be kept, if any.
func warnLostOwners(w io.Writer) {
	lostOwners.mu.Lock()
	defer lostOwners.mu.Unlock()
	if lostOwners.n == 0 {
		return
	}
	more := ""
	if lostOwners.n > len(lostOwners.first) {
		more = fmt.Sprintf(" and %d more", lostOwners.n-len(lostOwners.first))
	}
	fmt.Fprintf(w, "WARNING: rootless without subordinate ids: the owners of %d extracted files are not mapped and were "+
		"replaced by root in the snapshots RUN steps see: %s%s\n", lostOwners.n, strings.Join(lostOwners.first, ", "), more)
}

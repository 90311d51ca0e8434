package sandbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// execUser is a resolved USER: ids only, never names.
type execUser struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// resolveUser resolves spec ("", "name", "uid", "name:group", "uid:gid")
// against the /etc/passwd and /etc/group of the container root, reading them
// as data through paths confined to root.
func resolveUser(root, spec string) (execUser, error) {
	passwd, err := openInRoot(root, "/etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInRoot(root, "/etc/group")
	if err != nil {
		return execUser{}, err
	}
	if group != nil {
		defer group.Close()
	}
	defaults := &user.ExecUser{Home: "/"}
	u, err := user.GetExecUser(spec, defaults, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		return execUser{}, fmt.Errorf("resolving user %q: %w", spec, err)
	}
	eu := execUser{UID: uint32(u.Uid), GID: uint32(u.Gid), Home: u.Home}
	// The primary group leads the supplementary ones unless among them,
	// as BuildKit's executor (ensureAdditionalGids) makes it: id shows
	// groups=0(root),10(wheel).
	if !slices.Contains(u.Sgids, u.Gid) {
		eu.Groups = append(eu.Groups, eu.GID)
	}
	for _, g := range u.Sgids {
		eu.Groups = append(eu.Groups, uint32(g))
	}
	return eu, nil
}

// withHome returns env with HOME set to home unless env sets HOME already:
// the user's passwd entry ("/" for a user without one), as runc and so
// BuildKit give every RUN.
func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	if home == "" {
		home = "/"
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// openInRoot opens unsafePath inside root, or returns nil if it is missing.
func openInRoot(root, unsafePath string) (*os.File, error) {
	p, err := securejoin.SecureJoin(root, unsafePath)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", unsafePath, err)
	}
	// O_NONBLOCK: an image's /etc/passwd may be a FIFO, and open(2)
	// would wait for a writer before the type check below could refuse it.
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", unsafePath, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", unsafePath)
	}
	return f, nil
}

// readerOrNil keeps a nil *os.File from becoming a non-nil io.Reader.
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

package build

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
)

// resolveChown turns a --chown value into numeric ids, looking names up in
// the image's own /etc/passwd and /etc/group (never the host's), as
// BuildKit does (see fileOpOwner: a name missing there is 0, not an
// error). It returns -1, -1 when chown is empty.
func resolveChown(root, chown string) (int, int, error) {
	if chown == "" {
		return -1, -1, nil
	}
	uid, gid, err := fileOpOwner(root, chown)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", chown, err)
	}
	return uid, gid, nil
}

// fileOpOwner resolves a USER value ("user" or "user:group", names or
// ids) the way BuildKit's file operations do (llb.WithUser, readUser): a
// name is looked up in the image's /etc/passwd or /etc/group and is 0 when
// missing; a numeric user without a group is also its own gid; "root" is 0.
func fileOpOwner(root, spec string) (int, int, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, gid := 0, 0
	if id, ok := fileOpID(u); ok {
		uid, gid = id, id
	} else {
		users, err := readPasswd(root, func(pu user.User) bool { return pu.Name == u })
		if err != nil && !errors.Is(err, errNoPasswd) {
			return 0, 0, fmt.Errorf("user %s: %w", u, err)
		}
		if len(users) > 0 {
			uid, gid = users[0].Uid, users[0].Gid
		}
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if id, ok := fileOpID(g); ok {
		return uid, id, nil
	}
	f, err := openImageFile(root, "/etc/group")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return uid, gid, nil // as a group missing from the file
	}
	if err != nil {
		return 0, 0, fmt.Errorf("group %s: %w", g, err)
	}
	defer f.Close()
	groups, err := user.ParseGroupFilter(f, func(gr user.Group) bool { return gr.Name == g })
	if err != nil {
		return 0, 0, fmt.Errorf("group %s: %w", g, err)
	}
	if len(groups) > 0 {
		gid = groups[0].Gid
	}
	return uid, gid, nil
}

// fileOpID parses a numeric id as BuildKit's llb does ("root" is 0).
func fileOpID(s string) (int, bool) {
	if s == "root" {
		return 0, true
	}
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 0 {
		return 0, false
	}
	return int(id), true
}

// errNoPasswd is readPasswd's error for an image without /etc/passwd.
var errNoPasswd = errors.New("no /etc/passwd in the image")

func readPasswd(root string, filter func(user.User) bool) ([]user.User, error) {
	f, err := openImageFile(root, "/etc/passwd")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, errNoPasswd
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return user.ParsePasswdFilter(f, filter)
}

// openImageFile opens name in the image rooted at root as data: its
// symlinks resolved inside root, the last component not followed, and
// O_NONBLOCK so that a FIFO planted by the image cannot block the build;
// anything but a regular file is refused after the open.
func openImageFile(root, name string) (*os.File, error) {
	p, err := securejoin.SecureJoin(root, name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s in the image is not a regular file (%v)", name, fi.Mode().Type())
	}
	return f, nil
}

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
// the image's own /etc/passwd and /etc/group (never the host's). It returns
// -1, -1 when chown is empty.
func resolveChown(root, chown string) (int, int, error) {
	if chown == "" {
		return -1, -1, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	uid, pwGid, err := lookupUser(root, u)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", chown, err)
	}
	gid := pwGid
	if hasGroup {
		if gid, err = lookupGroup(root, g); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", chown, err)
		}
	} else if _, numeric := strconv.Atoi(u); numeric == nil {
		gid = uid // docker: a numeric user without a group uses the same id
	}
	return uid, gid, nil
}

// lookupUser returns the uid and primary gid of a user name or id.
func lookupUser(root, name string) (int, int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 {
			return 0, 0, fmt.Errorf("invalid user id %d", id)
		}
		gid := id
		if users, err := readPasswd(root, func(u user.User) bool { return u.Uid == id }); err == nil && len(users) > 0 {
			gid = users[0].Gid
		}
		return id, gid, nil
	}
	users, err := readPasswd(root, func(u user.User) bool { return u.Name == name })
	if err != nil {
		return 0, 0, fmt.Errorf("unable to find user %s: %w", name, err)
	}
	if len(users) == 0 {
		return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
	}
	return users[0].Uid, users[0].Gid, nil
}

// lookupGroup returns the gid of a group name or id.
func lookupGroup(root, name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 {
			return 0, fmt.Errorf("invalid group id %d", id)
		}
		return id, nil
	}
	f, err := openImageFile(root, "/etc/group")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("unable to find group %s: no /etc/group in the image", name)
		}
		return 0, fmt.Errorf("unable to find group %s: %w", name, err)
	}
	defer f.Close()
	groups, err := user.ParseGroupFilter(f, func(g user.Group) bool { return g.Name == name })
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("unable to find group %s: no /etc/group in the image", name)
		}
		return 0, fmt.Errorf("unable to find group %s: %w", name, err)
	}
	if len(groups) == 0 {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", name)
	}
	return groups[0].Gid, nil
}

func readPasswd(root string, filter func(user.User) bool) ([]user.User, error) {
	f, err := openImageFile(root, "/etc/passwd")
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("no /etc/passwd in the image")
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

//go:build !linux

package rootless

// Info describes the user namespace a rootless builder runs in.
type Info struct {
	UID, GID       int
	User           string
	SubIDs         bool
	UIDMap, GIDMap []Mapping
}

// Current reports no user namespace where there are none.
func Current() (Info, bool) { return Info{}, false }

// Enter does nothing where builds are not supported.
func Enter() error { return nil }

// NamespaceMaps reports no user namespace where there are none.
func NamespaceMaps() (uidMap, gidMap []Mapping, err error) { return nil, nil, nil }

package rootless

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Range is a subordinate id range of /etc/subuid or /etc/subgid: Count
// ids from Start.
type Range struct {
	Start, Count uint32
}

// Mapping is one line of a uid_map or gid_map: Size ids from Inside (in
// the user namespace) are Outside ids on the host.
type Mapping struct {
	Inside, Outside, Size uint32
}

// ParseSubIDs returns the ranges of an /etc/subuid-format stream (lines
// "owner:start:count", # comments) that belong to the user called name or
// with the numeric id, in file order. Malformed lines are skipped, as
// shadow's newuidmap skips them.
func ParseSubIDs(r io.Reader, name string, id int) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, Range{Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// Mappings maps id to 0 and the subordinate ranges, one after another, to
// 1 and up, as rootlesskit and rootless podman do: root in the user
// namespace is the calling user, and every other id of an image is one of
// the user's subordinate ids.
func Mappings(id int, ranges []Range) []Mapping {
	out := []Mapping{{Inside: 0, Outside: uint32(id), Size: 1}}
	next := uint32(1)
	for _, r := range ranges {
		if r.Start <= uint32(id) && uint32(id) < r.Start+r.Count {
			continue // a range holding the user's own id would map it twice
		}
		out = append(out, Mapping{Inside: next, Outside: r.Start, Size: r.Count})
		next += r.Count
	}
	return out
}

// mapArgs are the mappings as newuidmap's and newgidmap's arguments after
// the pid.
func mapArgs(ms []Mapping) []string {
	var args []string
	for _, m := range ms {
		args = append(args, strconv.FormatUint(uint64(m.Inside), 10),
			strconv.FormatUint(uint64(m.Outside), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	return args
}

// Mapped reports whether the id (inside the namespace) is covered by ms.
func Mapped(ms []Mapping, id uint32) bool {
	for _, m := range ms {
		if id >= m.Inside && id-m.Inside < m.Size {
			return true
		}
	}
	return false
}

// ParseIDMap parses the text of /proc/PID/uid_map or gid_map.
func ParseIDMap(text string) ([]Mapping, error) {
	var out []Mapping
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q", line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %w", line, err)
			}
			v[i] = uint32(n)
		}
		out = append(out, Mapping{Inside: v[0], Outside: v[1], Size: v[2]})
	}
	return out, nil
}

// overflowID is the id the kernel shows for a host id a user namespace
// does not map (/proc/sys/kernel/overflowuid and overflowgid, 65534 by
// default).
const overflowID = 65534

// Inside returns the id that the host id host has in a namespace with the
// maps ms: what stat(2) shows there (overflowID when it is not mapped).
func Inside(ms []Mapping, host uint32) uint32 {
	for _, m := range ms {
		if host >= m.Outside && host-m.Outside < m.Size {
			return m.Inside + (host - m.Outside)
		}
	}
	return overflowID
}

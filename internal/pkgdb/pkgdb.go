package pkgdb

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// Paths of the package databases, relative to the filesystem root.
const (
	DpkgStatus   = "var/lib/dpkg/status"
	ApkInstalled = "lib/apk/db/installed"
)

// Package is one installed package of a database.
type Package struct {
	Name    string
	Version string
	// Arch is the package's architecture as its manager spells it
	// ("amd64", "all"; apk's "x86_64").
	Arch string
	// Source is the source package (dpkg's Source, without its version;
	// apk's origin), empty when it is the package's own name.
	Source string
	// Maintainer is the maintainer field as written ("Name <email>").
	Maintainer string
	// License is apk's license field (dpkg has none in its database).
	License string
	// Bytes is the installed size: dpkg's Installed-Size (KiB) × 1024,
	// apk's I: field.
	Bytes int64
}

// Parse parses the database at path name (DpkgStatus or ApkInstalled).
func Parse(name string, data []byte) []Package {
	if name == ApkInstalled {
		return ParseApkInstalled(data)
	}
	return ParseDpkgStatus(data)
}

// ParseDpkgStatus returns the installed packages of a dpkg status file.
// Architecture-qualified duplicates keep the first entry.
func ParseDpkgStatus(data []byte) []Package {
	var out []Package
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		f := fields(para, ": ")
		if f["Package"] == "" || !strings.HasSuffix(f["Status"], " installed") {
			continue
		}
		kib, _ := strconv.ParseInt(f["Installed-Size"], 10, 64)
		src, _, _ := strings.Cut(f["Source"], " ") // "glibc (2.36-9)"
		if src == f["Package"] {
			src = ""
		}
		out = append(out, Package{Name: f["Package"], Version: f["Version"], Arch: f["Architecture"],
			Source: src, Maintainer: f["Maintainer"], Bytes: kib * 1024})
	}
	return dedupe(out)
}

// ParseApkInstalled returns the packages of an apk installed database.
func ParseApkInstalled(data []byte) []Package {
	var out []Package
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		f := fields(para, ":")
		if f["P"] == "" {
			continue
		}
		n, _ := strconv.ParseInt(f["I"], 10, 64)
		src := f["o"]
		if src == f["P"] {
			src = ""
		}
		out = append(out, Package{Name: f["P"], Version: f["V"], Arch: f["A"], Source: src,
			Maintainer: f["m"], License: f["L"], Bytes: n})
	}
	return out
}

// dedupe keeps the first of packages sharing a name.
func dedupe(ps []Package) []Package {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p)
		}
	}
	return out
}

// fields reads "Key<sep>value" lines of one stanza; continuation lines are
// ignored.
func fields(para []byte, sep string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(para))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			if _, dup := out[k]; !dup {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

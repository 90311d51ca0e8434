package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ibuild/ibuild/internal/pkgdb"
)

// Package databases read from the final filesystem.
const (
	dpkgStatus   = pkgdb.DpkgStatus
	apkInstalled = pkgdb.ApkInstalled
	// maxDBSize bounds how much of a database file is read.
	maxDBSize = 64 << 20
)

// dbVersion is one layer's copy of a package database.
type dbVersion struct {
	layer int
	pkgs  []Package
}

// pkgDBs keeps every layer's copy of the package databases.
type pkgDBs struct {
	versions map[string][]dbVersion
}

func (d *pkgDBs) wants(name string) bool { return name == dpkgStatus || name == apkInstalled }

// read parses one layer's copy of the database name.
func (d *pkgDBs) read(name string, layer int, r io.Reader, size int64) error {
	if size > maxDBSize {
		return fmt.Errorf("package database is %d bytes, larger than %d", size, maxDBSize)
	}
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	var pkgs []Package
	if name == dpkgStatus {
		pkgs = parseDpkgStatus(data)
	} else {
		pkgs = parseApkInstalled(data)
	}
	if d.versions == nil {
		d.versions = map[string][]dbVersion{}
	}
	d.versions[name] = append(d.versions[name], dbVersion{layer: layer, pkgs: pkgs})
	return nil
}

// final returns the packages of the database present in the final
// filesystem (dpkg first), each with the first layer from which its
// database continuously lists it; nil if there is none.
func (d *pkgDBs) final(t *fsTree) *Packages {
	for _, name := range []string{dpkgStatus, apkInstalled} {
		parent, base := t.lookup(name, 0, false)
		if parent == nil || parent.children[base] == nil || len(d.versions[name]) == 0 {
			continue
		}
		vs := d.versions[name]
		since := map[string]int{}
		for _, v := range vs {
			seen := map[string]bool{}
			for _, p := range v.pkgs {
				seen[p.Name] = true
				if _, ok := since[p.Name]; !ok {
					since[p.Name] = v.layer
				}
			}
			for n := range since {
				if !seen[n] {
					delete(since, n)
				}
			}
		}
		out := &Packages{Manager: "dpkg", Database: "/" + name, List: []Package{}}
		if name == apkInstalled {
			out.Manager = "apk"
		}
		for _, p := range vs[len(vs)-1].pkgs {
			p.Layer = since[p.Name]
			out.List = append(out.List, p)
			out.Bytes += p.Bytes
		}
		slices.SortFunc(out.List, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
		out.Count = len(out.List)
		return out
	}
	return nil
}

// parseDpkgStatus returns the installed packages of a dpkg status file
// (pkgdb.ParseDpkgStatus); sizes are Installed-Size (KiB) × 1024.
func parseDpkgStatus(data []byte) []Package { return fromDB(pkgdb.ParseDpkgStatus(data)) }

// parseApkInstalled returns the packages of an apk installed database
// (pkgdb.ParseApkInstalled); sizes are the I: field (bytes).
func parseApkInstalled(data []byte) []Package { return fromDB(pkgdb.ParseApkInstalled(data)) }

func fromDB(ps []pkgdb.Package) []Package {
	var out []Package
	for _, p := range ps {
		out = append(out, Package{Name: p.Name, Version: p.Version, Bytes: p.Bytes})
	}
	return out
}

package attest

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/pkgdb"
	"github.com/ibuild/ibuild/layer"
)

// Bounds on what the scan reads into memory.
const (
	maxDBSize     = 64 << 20  // a package database
	maxBinarySize = 512 << 20 // an executable checked for Go build info
	maxOSRelease  = 64 << 10
)

// goBinary is a Go executable of the image and the build info it embeds.
type goBinary struct {
	path string // absolute, in the image
	info *buildinfo.BuildInfo
}

// contents is what the SBOM lists from an image's final filesystem.
type contents struct {
	dbPath    string // "/var/lib/dpkg/status", "/lib/apk/db/installed" or ""
	manager   string // "dpkg", "apk"
	packages  []pkgdb.Package
	osRelease map[string]string // /etc/os-release (or /usr/lib/os-release)
	binaries  []goBinary        // in the order the scan met them
}

// entry kinds a higher layer leaves for the lower ones.
const (
	kindDir = iota + 1
	kindOpaque
	kindFile // any non-directory
	kindDeleted
)

// scanner walks an image's layers from the top down and keeps, for each
// path a layer above decided, what it decided; a lower layer's entry is
// visible only if no layer above shadows it or one of its parents.
type scanner struct {
	above map[string]int
	out   contents
	dbs   map[string][]byte // visible databases, by path
	osr   map[string][]byte
}

// scan reads the final filesystem of img; limits bound each layer's
// decompression (layer.Decompress).
func scan(ctx context.Context, img v1.Image, limits []layer.Option) (*contents, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	s := &scanner{above: map[string]int{}, dbs: map[string][]byte{}, osr: map[string][]byte{}}
	for i := len(ls) - 1; i >= 0; i-- {
		if err := s.layer(ctx, ls[i], limits); err != nil {
			d, _ := ls[i].Digest()
			return nil, fmt.Errorf("scanning layer %s: %w", d, err)
		}
	}
	for _, name := range []string{pkgdb.DpkgStatus, pkgdb.ApkInstalled} {
		if data, ok := s.dbs[name]; ok {
			s.out.dbPath, s.out.packages = "/"+name, pkgdb.Parse(name, data)
			s.out.manager = map[string]string{pkgdb.DpkgStatus: "dpkg", pkgdb.ApkInstalled: "apk"}[name]
			break
		}
	}
	for _, name := range []string{"etc/os-release", "usr/lib/os-release"} {
		if data, ok := s.osr[name]; ok {
			s.out.osRelease = parseOSRelease(data)
			break
		}
	}
	return &s.out, nil
}

func (s *scanner) layer(ctx context.Context, l v1.Layer, limits []layer.Option) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	dec, err := layer.Decompress(rc, limits...)
	if err != nil {
		return err
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	here := map[string]int{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar stream: %w", err)
		}
		name := cleanName(hdr.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			here[dir] = kindOpaque
			continue
		case strings.HasPrefix(base, ".wh."):
			if p := path.Join(dir, strings.TrimPrefix(base, ".wh.")); here[p] == 0 {
				here[p] = kindDeleted
			}
			continue
		}
		if !s.visible(name) {
			continue
		}
		if hdr.Typeflag == tar.TypeDir {
			if here[name] == 0 {
				here[name] = kindDir
			}
			continue
		}
		here[name] = kindFile
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			if err := s.file(name, hdr, tr); err != nil {
				return fmt.Errorf("reading /%s: %w", name, err)
			}
		}
	}
	for p, k := range here {
		if s.above[p] == 0 {
			s.above[p] = k
		}
	}
	return nil
}

// visible says whether no layer above hides name: not the path itself,
// nor a parent deleted, replaced by a non-directory, or made opaque.
func (s *scanner) visible(name string) bool {
	if s.above[name] != 0 {
		return false
	}
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if k := s.above[p]; k == kindOpaque || k == kindFile || k == kindDeleted {
			return false
		}
	}
	return true
}

// file reads what the SBOM needs of a visible regular file.
func (s *scanner) file(name string, hdr *tar.Header, r io.Reader) error {
	switch {
	case name == pkgdb.DpkgStatus || name == pkgdb.ApkInstalled:
		if hdr.Size > maxDBSize {
			return fmt.Errorf("package database is %d bytes, larger than %d", hdr.Size, maxDBSize)
		}
		data, err := io.ReadAll(io.LimitReader(r, hdr.Size))
		s.dbs[name] = data
		return err
	case name == "etc/os-release" || name == "usr/lib/os-release":
		data, err := io.ReadAll(io.LimitReader(r, maxOSRelease))
		s.osr[name] = data
		return err
	case hdr.Mode&0o111 != 0 && hdr.Size > 64 && hdr.Size <= maxBinarySize:
		return s.binary(name, hdr.Size, r)
	}
	return nil
}

// executable magics debug/buildinfo reads: ELF, Mach-O, PE (MZ).
var execMagic = [][]byte{[]byte("\x7fELF"), {0xfe, 0xed, 0xfa}, {0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, []byte("MZ")}

// binary records the Go build info of an executable, if it has one.
func (s *scanner) binary(name string, size int64, r io.Reader) error {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return err
	}
	ok := false
	for _, m := range execMagic {
		ok = ok || bytes.HasPrefix(head, m)
	}
	if !ok {
		return nil
	}
	data := make([]byte, size)
	copy(data, head)
	if _, err := io.ReadFull(r, data[4:]); err != nil {
		return err
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return nil // not a Go binary (or one built without module info)
	}
	s.out.binaries = append(s.out.binaries, goBinary{path: "/" + name, info: info})
	return nil
}

// cleanName makes a tar entry name relative to the root, without "./".
func cleanName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// parseOSRelease reads KEY=VALUE lines, unquoting values.
func parseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

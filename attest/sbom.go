package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/pkgdb"
	"github.com/ibuild/ibuild/layer"
)

// PredicateSPDX is the in-toto predicate type of an SPDX document.
const PredicateSPDX = "https://spdx.dev/Document"

// SBOMOptions describe the SBOM's document.
type SBOMOptions struct {
	// Name names the document and its root package (the image's first
	// tag, or "image").
	Name string
	// Created is the document's creation time: the build's epoch, so that
	// the same image gets the same SBOM.
	Created time.Time
	// Tool is the creator ("ibuild-1.2.0").
	Tool string
	// Limits bound each layer's decompression.
	Limits []layer.Option
}

// SBOM returns an SPDX 2.3 JSON document of img's final filesystem: the
// packages of its dpkg or apk database and, for every Go executable, its
// main module, the modules it was built with and the Go standard library.
// Reading a layer fails on a corrupt blob or past a limit.
func SBOM(ctx context.Context, img v1.Image, o SBOMOptions) (json.RawMessage, error) {
	c, err := scan(ctx, img, o.Limits)
	if err != nil {
		return nil, err
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return json.Marshal(sbomDocument(c, dig, o))
}

// sbomDocument builds the document from a scan's results.
func sbomDocument(c *contents, dig v1.Hash, o SBOMOptions) *spdxDocument {
	name := o.Name
	if name == "" {
		name = "image"
	}
	doc := &spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: name,
		DocumentNamespace: "https://github.com/ibuild/ibuild/spdx/" + purlEscape(spdxSafe(name)) + "-" + dig.Hex,
		CreationInfo:      spdxCreationInfo{Creators: []string{"Tool: " + o.Tool}, Created: o.Created.UTC().Format(time.RFC3339)},
		Packages:          []spdxPackage{},
	}
	root := spdxPackage{Name: name, SPDXID: "SPDXRef-DocumentRoot-Image", VersionInfo: dig.String(),
		DownloadLocation: noAssertion, LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
		PrimaryPackagePurpose: "CONTAINER",
		ExternalRefs:          []spdxExternalRef{purlRef("pkg:oci/" + purlEscape(lastSegment(name)) + "@" + purlEscape(dig.String()))}}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", root.SPDXID, "DESCRIBES"})
	for _, p := range c.packages {
		sp := osPackage(c, p)
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, sp.SPDXID, "CONTAINS"})
	}
	for _, b := range c.binaries {
		pkgs := goPackages(b)
		doc.Packages = append(doc.Packages, pkgs...)
		doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, pkgs[0].SPDXID, "CONTAINS"})
		for _, dep := range pkgs[1:] {
			doc.Relationships = append(doc.Relationships, spdxRelationship{pkgs[0].SPDXID, dep.SPDXID, "DEPENDS_ON"})
		}
	}
	return doc
}

// osPackage is one package of the distribution's database, with the
// package URL vulnerability scanners match on.
func osPackage(c *contents, p pkgdb.Package) spdxPackage {
	distro := c.osRelease["ID"]
	typ, dbName := "deb", "DPKG DB"
	if c.manager == "apk" {
		typ, dbName = "apk", "APK DB"
		if distro == "" {
			distro = "alpine"
		}
	} else if distro == "" {
		distro = "debian"
	}
	q := url.Values{}
	if p.Arch != "" {
		q.Set("arch", p.Arch)
	}
	if v := c.osRelease["VERSION_ID"]; v != "" {
		q.Set("distro", distro+"-"+v)
	}
	if p.Source != "" {
		q.Set("upstream", p.Source)
	}
	purl := "pkg:" + typ + "/" + purlEscape(distro) + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version)
	if len(q) > 0 {
		purl += "?" + q.Encode() // sorted by key, as the purl spec asks
	}
	return spdxPackage{
		Name: p.Name, SPDXID: spdxID("Package-"+typ, p.Name, p.Name+"@"+p.Version),
		VersionInfo: p.Version, Supplier: supplier(p.Maintainer), DownloadLocation: noAssertion,
		SourceInfo:       "acquired package info from " + dbName + ": " + c.dbPath,
		LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
		ExternalRefs: []spdxExternalRef{purlRef(purl)},
	}
}

// goPackages lists a Go binary's main module first, then its dependencies
// (as replaced) and the standard library.
func goPackages(b goBinary) []spdxPackage {
	src := "acquired package info from go module information: " + b.path
	mk := func(path, version string) spdxPackage {
		return spdxPackage{Name: path, SPDXID: spdxID("Package-go-module", path, b.path+" "+path+"@"+version),
			VersionInfo: version, DownloadLocation: noAssertion, SourceInfo: src,
			LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
			ExternalRefs: []spdxExternalRef{purlRef(golangPURL(path, version))}}
	}
	main := b.info.Main
	if main.Path == "" {
		main.Path, main.Version = b.info.Path, "(devel)"
	}
	out := []spdxPackage{mk(main.Path, main.Version)}
	out[0].PrimaryPackagePurpose = "APPLICATION"
	for _, d := range b.info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		out = append(out, mk(d.Path, d.Version))
	}
	std := mk("stdlib", b.info.GoVersion)
	std.ExternalRefs = []spdxExternalRef{purlRef("pkg:golang/stdlib@" + purlEscape(strings.TrimPrefix(b.info.GoVersion, "go")))}
	return append(out, std)
}

// golangPURL is pkg:golang/NAMESPACE/NAME@VERSION for a module path.
func golangPURL(path, version string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	return "pkg:golang/" + strings.Join(segs, "/") + "@" + purlEscape(version)
}

func purlRef(purl string) spdxExternalRef {
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: purl}
}

var maintainerRE = regexp.MustCompile(`^\s*(.*?)\s*<([^>]*)>\s*$`)

// supplier turns "Name <email>" into SPDX's "Person: Name (email)".
func supplier(m string) string {
	if m == "" {
		return noAssertion
	}
	if sm := maintainerRE.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("Person: %s (%s)", sm[1], sm[2])
	}
	return "Person: " + m
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxSafe(s string) string { return unsafeID.ReplaceAllString(s, "-") }

// spdxID is a document-unique SPDXRef: a readable part and a hash of what
// makes the element unique.
func spdxID(kind, name, unique string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + unique))
	return "SPDXRef-" + kind + "-" + spdxSafe(name) + "-" + hex.EncodeToString(h[:8])
}

// lastSegment is the last path element of an image name without its tag.
func lastSegment(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexAny(name, ":@"); i > 0 {
		name = name[:i]
	}
	return name
}

package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/ibuild/ibuild/attest/attesttest"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

const dpkgOld = `Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
Installed-Size: 10

Package: removed-later
Status: install ok installed
Architecture: amd64
Version: 1.0
`

const dpkgNew = `Package: base-files
Status: install ok installed
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Installed-Size: 10

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Installed-Size: 12

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`

func TestSBOM(t *testing.T) {
	ctx := context.Background()
	gobin := goBinaryBytes(t)
	img := testImage(t,
		tarLayer(t,
			file{name: "etc/", typ: '5'},
			file{name: "etc/os-release", data: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")},
			file{name: "var/lib/dpkg/status", data: []byte(dpkgOld)},
			file{name: "usr/bin/gone", data: gobin, mode: 0o755},
			file{name: "opt/old/", typ: '5'},
			file{name: "opt/old/hidden", data: gobin, mode: 0o755},
			file{name: "srv/notexec", data: gobin, mode: 0o644},
		),
		tarLayer(t,
			file{name: "usr/bin/.wh.gone"},
			file{name: "opt/old/", typ: '5'},
			file{name: "opt/old/.wh..wh..opq"},
			file{name: "var/lib/dpkg/status", data: []byte(dpkgNew)},
			file{name: "usr/local/bin/app", data: gobin, mode: 0o755},
		))
	raw, err := SBOM(ctx, img, SBOMOptions{Name: "127.0.0.1:5000/team/app:1", Created: time.Unix(1700000000, 0), Tool: "ibuild-test"})
	if err != nil {
		t.Fatal(err)
	}
	validateSchema(t, attesttest.SPDXSchema(t), raw)

	// A public reader: spdx/tools-golang's JSON parser.
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("spdx tools-golang cannot read the SBOM: %v", err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	if ids, err := spdxlib.GetDescribedPackageIDs(doc); err != nil || len(ids) != 1 || ids[0] != "DocumentRoot-Image" {
		t.Errorf("described packages %v, %v; want the image's root package", ids, err)
	}
	seen := map[string]bool{}
	for _, p := range doc.Packages {
		if id := string(p.PackageSPDXIdentifier); seen[id] {
			t.Errorf("SPDXID %s used twice", id)
		} else {
			seen[id] = true
		}
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("version %q created %q", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	purls := map[string]string{} // name -> purl
	sources := map[string]string{}
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				purls[p.PackageName] = r.Locator
			}
		}
		sources[p.PackageName] = p.PackageSourceInfo
	}
	want := map[string]string{
		"base-files":                             "pkg:deb/debian/base-files@12.4+deb12u5?arch=amd64&distro=debian-12",
		"libc6":                                  "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc",
		"tzdata":                                 "pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all&distro=debian-12",
		"github.com/google/go-containerregistry": "pkg:golang/github.com/google/go-containerregistry@v0.22.1",
	}
	for name, purl := range want {
		if purls[name] != purl {
			t.Errorf("package %s: purl %q, want %q", name, purls[name], purl)
		}
	}
	if _, ok := purls["removed-later"]; ok {
		t.Error("a package only the lower layer's database lists is in the SBOM")
	}
	if !strings.HasPrefix(purls["stdlib"], "pkg:golang/stdlib@1.") {
		t.Errorf("stdlib purl %q", purls["stdlib"])
	}
	// Only the visible Go binary is listed: not the deleted one, not the
	// one under the opaque directory, not the non-executable copy.
	var bins []string
	for _, p := range doc.Packages {
		if p.PrimaryPackagePurpose == "APPLICATION" {
			bins = append(bins, p.PackageSourceInfo)
		}
	}
	if !slices.Equal(bins, []string{"acquired package info from go module information: /usr/local/bin/app"}) {
		t.Errorf("Go binaries %q, want /usr/local/bin/app only", bins)
	}
	if sources["libc6"] != "acquired package info from DPKG DB: /var/lib/dpkg/status" {
		t.Errorf("libc6 sourceInfo %q", sources["libc6"])
	}
	// Deterministic: the same image gives the same bytes.
	again, err := SBOM(ctx, img, SBOMOptions{Name: "127.0.0.1:5000/team/app:1", Created: time.Unix(1700000000, 0), Tool: "ibuild-test"})
	if err != nil || !bytes.Equal(again, raw) {
		t.Errorf("second SBOM differs (err %v)", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["documentNamespace"] == "" {
		t.Error("no documentNamespace")
	}
}

func TestSBOMApk(t *testing.T) {
	apk := "P:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\nI:100\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\nI:10\n"
	img := testImage(t, tarLayer(t,
		file{name: "etc/os-release", data: []byte("ID=alpine\nVERSION_ID=3.20.3\n")},
		file{name: "lib/apk/db/installed", data: []byte(apk)}))
	raw, err := SBOM(context.Background(), img, SBOMOptions{Created: time.Unix(0, 0), Tool: "t"})
	if err != nil {
		t.Fatal(err)
	}
	validateSchema(t, attesttest.SPDXSchema(t), raw)
	if !bytes.Contains(raw, []byte(`"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64\u0026distro=alpine-3.20.3"`)) {
		t.Errorf("no apk purl for musl in %s", raw)
	}
}

// TestSBOMBadLayer: a layer that is not a tar stream fails the SBOM with
// an error naming the layer.
func TestSBOMBadLayer(t *testing.T) {
	bad := static.NewLayer(bytes.Repeat([]byte("not a tar archive "), 64), types.OCIUncompressedLayer)
	img := testImage(t, tarLayer(t, file{name: "a", data: []byte("x")}), bad)
	_, err := SBOM(context.Background(), img, SBOMOptions{Tool: "t"})
	d, _ := bad.Digest()
	if err == nil || !strings.Contains(err.Error(), "scanning layer "+d.String()) {
		t.Errorf("SBOM of a broken layer: %v, want an error naming %s", err, d)
	}
}

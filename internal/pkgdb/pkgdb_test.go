package pkgdb

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	dpkg := `Package: libc6
Status: install ok installed
Installed-Size: 12
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation: not a field

Package: gone
Status: deinstall ok config-files
Version: 1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Source: bash
Installed-Size: 7

Package: bash
Status: install ok installed
Version: 9
`
	apk := `C:Q1abc=
P:musl
V:1.2.5-r0
A:x86_64
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
I:383152

P:busybox-binsh
V:1.36.1-r29
A:x86_64
L:GPL-2.0-only
o:busybox
I:1
`
	tests := []struct {
		name, db, data string
		want           []Package
	}{
		{"dpkg", DpkgStatus, dpkg, []Package{
			{Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", Source: "glibc",
				Maintainer: "GNU Libc Maintainers <debian-glibc@lists.debian.org>", Bytes: 12 * 1024},
			{Name: "bash", Version: "5.2.15-2+b2", Arch: "amd64", Bytes: 7 * 1024},
		}},
		{"apk", ApkInstalled, apk, []Package{
			{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", License: "MIT",
				Maintainer: "Natanael Copa <ncopa@alpinelinux.org>", Bytes: 383152},
			{Name: "busybox-binsh", Version: "1.36.1-r29", Arch: "x86_64", Source: "busybox", License: "GPL-2.0-only", Bytes: 1},
		}},
		{"empty", DpkgStatus, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.db, []byte(tt.data)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// Package pkgdb parses the package databases of Linux distributions as
// they lie in an image's filesystem: dpkg's status file (Debian, Ubuntu)
// and apk's installed database (Alpine). `ibuild inspect` (report) lists
// their packages; the SBOM (attest) names them.
//
// This package imports nothing from ibuild.
package pkgdb

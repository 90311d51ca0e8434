// Package conformance is ibuild's differential conformance harness: it
// builds every case under testdata/conformance with BuildKit (the
// reference, a pinned buildkitd run by the test) and with ibuild, unpacks
// both OCI outputs with umoci and compares their root filesystems and image
// configs.
//
// The package's non-test code is the comparison: Load reads a case
// directory, Scan records a root filesystem (type, mode, owner, content
// digest, symlink target, hardlink group, xattrs, device numbers, mtime),
// CompareTrees and CompareConfigs list the differences. The builds run in
// conformance_linux_test.go (TestConformance), skipped unless IBUILD_CONFORMANCE=1 (`make
// conformance`); testdata/conformance/README.md describes the case format.
package conformance

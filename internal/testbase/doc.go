// Package testbase gives tests the base root filesystem tarballs that ibuild
// imports instead of pulling from a registry, and skips tests whose external
// tools are missing.
//
// The tarballs are built by hack/testbases.sh into $IBUILD_TESTBASES (default
// /var/cache/ibuild-testbases), outside the repository, and reused across runs.
// Debian and Busybox run that script at most once per test binary and per base.
// When a base cannot be built (no debootstrap, no network, not root) the
// calling test is skipped with the script's reason, except when $CI is set:
// .ci/run builds the bases first, so in CI a missing base is a failure.
//
// This package imports nothing from ibuild.
package testbase

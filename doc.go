// Package ibuild is a daemonless builder of layered OCI images, like
// docker build. The library lives in the sub-packages (parser, layer, cache,
// registry, progress, build) and the command in cmd/ibuild; see
// docs/DESIGN.md for their contracts and import direction, which
// imports_test.go guards.
package ibuild

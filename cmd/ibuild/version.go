package main

import "runtime/debug"

// version is ibuild's version, set at link time with
// -ldflags "-X main.version=v1.2.3". Without it, the module version from
// the build info is used ("(devel)" for a build from a work tree becomes
// "dev").
var version = ""

// ibuildVersion returns the version this binary reports.
func ibuildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// userAgent is the User-Agent ibuild sends to registries.
func userAgent() string { return "ibuild/" + ibuildVersion() }

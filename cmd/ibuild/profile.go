package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole command to the file named
// by IBUILD_CPUPROFILE, for developers chasing the benchmarks in bench/
// (e.g. what a no-op rebuild spends its 100-odd milliseconds on). The
// returned function stops it.
func startProfile() func() {
	p := os.Getenv("IBUILD_CPUPROFILE")
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "WARNING: IBUILD_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

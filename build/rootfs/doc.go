// Package rootfs is the only build code that mounts: it gives the build
// package root file systems to read (a read-only overlay of a stage's layer
// snapshots, or a plain copy where overlayfs cannot be used), throwaway
// writable views of bind mount sources, and RUN --mount=type=cache
// directories locked as their sharing mode says. Every mount is detached
// where the kernel allows (reached as /proc/PID/fd/N), so that a killed
// builder leaves nothing mounted.
//
// It works on a cache.Store: snapshots and temporary directories live
// there. Fetching layers a --cache-from source holds lazily is the caller's
// job, before it asks for a root file system.
//
// The mount code is Linux-only; elsewhere every function that mounts
// returns ErrUnsupported, and Export and Copy work.
package rootfs

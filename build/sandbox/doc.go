// Package sandbox runs the command of one Dockerfile RUN step in an isolated
// root filesystem, as docker build does.
//
// The root filesystem is an overlay of Spec.Lowerdirs with Spec.Upperdir on
// top, so after Run the upper directory holds exactly the step's changes in
// overlayfs format (whiteouts are 0/0 character devices). Mount points the
// sandbox needs (/etc/hosts, /etc/resolv.conf, RUN --mount targets) come
// from an extra bottom-most lower layer of empty stubs (left out when the
// image already has them all), so they never appear in the upper directory.
// /proc, /dev and /sys are the exception: as BuildKit's runc does, the
// sandbox creates them in the merged tree when the image lacks them, so the
// first RUN on such a root commits them as empty directories. /etc/hosts
// and /etc/resolv.conf are read-only; /etc/hostname is the image's own.
// Where overlayfs cannot be used, Run fails with ErrOverlayUnavailable and
// the caller may instead pass a plain directory as Spec.Rootfs, which the
// command changes in place (the caller diffs it by scanning). The overlay is mounted "volatile" (no sync of the
// upper filesystem on unmount): the upper directory is read right after Run,
// and a crash loses the unfinished build anyway.
//
// Two engines implement Run:
//
//   - builtin (the default) re-executes the current binary (/proc/self/exe)
//     as "ibuild-sandbox-init" in new PID, UTS and IPC namespaces. The
//     package's init function notices that name, reads its setup over a
//     pipe, makes its mount (and, but with NetworkHost, network) namespace,
//     mounts the overlay, /proc, /dev,
//     /sys and the bind mounts, pivots into the new root, masks /proc paths
//     as runc does, joins a new session keyring, installs docker's seccomp
//     filter (Spec.Seccomp; see package seccomp), drops capabilities to
//     docker's default set, switches to the USER (resolved from the
//     container's own /etc/passwd and /etc/group read as data) and execs the
//     command, which is PID 1 of its namespace. It also unshares a cgroup
//     namespace once it is in the step's cgroups. The overlay and every bind
//     mount are nodev.
//     Any binary that imports this package can therefore act as the init.
//     Starting a Go binary costs more than the rest of a step, so the init
//     of the next step is started ahead of time (Prewarm, and whenever a
//     step takes the waiting one) and waits, holding nothing, for its
//     setup; it dies with the
//     builder and exits by itself when unused for a minute.
//   - oci writes a runtime-spec bundle (see OCISpec) and runs it with an OCI
//     runtime such as runc, from a helper process that owns a private mount
//     namespace holding the overlay.
//
// The network (Spec.Network) is, as in BuildKit, a private namespace by
// default (NetworkDefault): the init is started in a network namespace of
// its own, and slirp4netns, started on it at once, gives it a tap device
// with outbound NAT from the builder's network namespace, no way to the
// builder's loopback (--disable-host-loopback) and a DNS forwarder that
// /etc/resolv.conf names in place of loopback nameservers. slirp4netns
// comes up while the init sets up its mounts, or while the init waits as
// the spare of the next default-network step (PrewarmNetwork); the init
// execs the command only once slirp4netns reports the device configured.
// When the init exits, slirp4netns is stopped through its exit pipe, in
// the background (WaitHelpers waits for that); a killed builder takes it
// along (parent-death signal, and the exit pipe's closing). Both engines
// share this: the OCI runtime joins its helper's namespace by path.
// NetworkNone has only lo; NetworkHost shares the builder's namespace.
//
// Each step runs in its own cgroup (v1 memory, pids, cpu and devices
// controllers plus the unified hierarchy of a hybrid host, or v2) nested
// below the builder's own cgroup, with a default process limit and memory
// limit that keep a fork bomb or memory hog from harming the host, and on v1
// a devices cgroup that allows only docker's default devices.
// When the context is cancelled or Spec.Timeout expires, Run kills the PID
// namespace's init (the kernel then kills everything else in it), kills any
// stragglers through the cgroup, removes the cgroup and returns. Step
// cgroups are named after the builder's pid, so that the first step of a
// later builder removes those a SIGKILLed builder left behind. Mounts live
// only in the sandbox's mount namespace and disappear with it.
//
// In a user namespace (a rootless build, see internal/rootless) every
// namespace of a step is owned by the builder's user namespace; what the
// sandbox does differently there is listed in userns_linux.go.
package sandbox

// Package seccomp turns a runtime-spec seccomp profile (docker's default
// profile, or one given as JSON with --security-opt seccomp=FILE) into a
// classic BPF program that the sandbox init installs before it execs a RUN
// command, without cgo or libseccomp.
//
// Compile follows libseccomp and runc where their behaviour is visible to
// the command:
//
//   - every architecture of the profile gets its own section, selected by
//     the audit architecture of the system call (on amd64: x86_64, and,
//     as in docker's profile, i386 and x32); a call from an architecture
//     the profile does not list kills the thread, as libseccomp's default
//     "bad arch" action does;
//   - system calls are matched by number from the syscall tables of
//     github.com/elastic/go-seccomp-bpf/arch; names unknown to the table
//     are ignored, as runc ignores names unknown to libseccomp;
//   - a rule's argument conditions are ANDed, except that a rule comparing
//     one argument more than once becomes one rule per condition (ORed), as
//     in runc (opencontainers/runc#2735); comparisons are unsigned and use
//     64 bits on 64-bit architectures and the low 32 bits on 32-bit ones;
//   - a system call with an unconditional rule takes that rule's action;
//     otherwise its conditional rules are tried in profile order and the
//     first that matches decides; anything else takes the default action;
//   - calls are found by a binary search on their number (libseccomp's
//     "optimize 2"), not a linear scan: the kernel runs the filter for every
//     system call number when it is installed, to cache the calls it always
//     allows, and a scan made that cost about 0.9 ms per RUN step (a search:
//     about 0.3 ms, mostly the kernel's fixed cost);
//   - runs of rules comparing one argument for equality (docker's socket
//     families) load it once; WithoutX32 replaces the x32 copy of the
//     rules by ENOSYS on kernels without the x32 ABI, which answer ENOSYS
//     to x32 calls themselves;
//   - a system call numbered above every call the profile names for an
//     architecture gets ENOSYS rather than the default action, as runc's
//     generated stub does, so that a program probing a system call newer
//     than the profile falls back instead of failing with EPERM.
//
// Profile resolves the --security-opt value ("" for docker's default,
// "unconfined", or a JSON profile) into the runtime-spec form, which is also
// what --isolation=oci hands to runc in config.json.
package seccomp

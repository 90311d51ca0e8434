// Package rootless runs ibuild as an unprivileged user: the process
// re-executes itself in a new user namespace in which the user is root and
// the user's subordinate ids (/etc/subuid, /etc/subgid) are the other
// users of the images it builds, as rootlesskit, rootless BuildKit and
// `buildah unshare` do. See rootless_linux.go for the process tree.
package rootless

// Package buildctx is the build context: the directory that COPY and ADD
// read from, filtered by docker's .dockerignore rules.
//
// [Open] reads the ignore file (patterns parsed by
// github.com/moby/patternmatcher/ignorefile and matched by patternmatcher,
// so "!" exceptions, "**" and leading "/" behave exactly as in docker).
// [Context.Select] resolves COPY source arguments to the files they
// select, [Context.OpenFile] opens one of them safely, and [Context.Digest]
// computes the content digest used in cache keys.
//
// Safety rules, matching docker where docker has one:
//
//   - A source argument is a path relative to the context root; an absolute
//     argument ("/a") means CONTEXT/a, while a relative argument that climbs
//     out of the root ("../x") is rejected with [ErrOutsideContext].
//   - A symlink named directly by an argument (or matched by a glob) is
//     followed, as docker follows the top-level source, but only when every
//     step of its resolution stays inside the context; otherwise
//     [ErrOutsideContext]. Symlinks met while walking a directory are
//     selected as symlinks and never followed.
//   - Ignored files are never selected, nor followed to: a symlink that is
//     itself ignored, or lies in an ignored directory, is not found, as
//     docker never sends it. [WithExclude] paths (the builder's --root when
//     it lies inside the context) are ignored with no "!" exception able to
//     bring them back.
//   - An argument that selects nothing but ignored files fails with
//     [ErrNotFound], as docker's "failed to compute cache key: ... not
//     found" does. An ignored directory is still walked when the ignore
//     file has "!" exceptions, so re-included files (and the directories
//     leading to them) are selected.
//   - FIFOs, sockets and devices are never opened. FIFOs and devices are
//     selected, walking or named directly, for the caller to recreate as
//     nodes (BuildKit copies them with mknod); sockets are skipped while
//     walking (no layer can hold them) and an error when named.
//     [Context.OpenFile] opens with O_NOFOLLOW|O_NONBLOCK
//     and re-checks with fstat that it got a regular file, so a file swapped
//     for a FIFO or symlink after Select is refused rather than followed or
//     waited on. [Context.Digest] hashes with openat2(RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS) from the context root and reads exactly the size
//     the walk saw; a symlink met on the way, or a file that grew, shrank or
//     became something else, is hashed again through OpenFile.
//
// Digest memoises content hashes in one file per context directory, keyed
// by (path, size, mtime, inode, ctime), flat binary with a CRC (memo.go);
// git's racy-timestamp rule decides which entries it re-hashes.
//
// [Context.Export] writes the selected view of the whole context into a
// directory, for a RUN --mount=type=bind of the context, which must not
// show ignored files.
//
// Errors name the ignore file, the argument or the file path they concern.
package buildctx

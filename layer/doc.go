// Package layer turns file system changes into OCI layer tar streams and
// applies such streams to directories.
//
// Generation is deterministic: entries are sorted, headers are normalised
// (no user or group names, no access or change times, modification times
// clamped to a source date epoch) and compression is done in one streaming
// pass that also computes the blob digest and the uncompressed diffID.
//
// Extraction is scoped: every path is resolved inside the target root, OCI
// whiteouts and opaque markers are applied (or converted to overlayfs's
// on-disk format for per-layer snapshots), and an entry that would escape
// the root is an error, as are invalid whiteouts, non-directory root
// entries, out-of-range devices and sparse files; trusted.overlay.*
// attributes in a layer are dropped. A layer applied into an empty
// snapshot directory takes a fast path (one create relative to the root
// fd per entry, directory metadata at the end, the stream read ahead on
// a goroutine of its own) that produces the same tree as the careful path,
// umoci's extractor, which it hands anything unusual. Decompression and extraction are
// bounded (WithMaxSize, WithMaxEntries, WithMaxRatio; defaults
// DefaultMaxSize and DefaultMaxEntries), failing with an error wrapping
// ErrLimit, so a bomb costs at most the limit. SECURITY.md at the
// repository root lists the threat model these rules serve.
//
// Tar streams from elsewhere (ibuild import's root filesystem, an archive
// ADD extracts) are rewritten by Rewrite under the rules extraction
// applies (CheckEntry): a name climbing out of the root or passing through
// a symlink of the same stream is refused. Paths go through one cleaner
// with two policies: CleanPath clamps ".." at the root for paths a build
// computes, CleanEntryName refuses it for names read from a tar.
//
// Package layer imports no other ibuild package.
package layer

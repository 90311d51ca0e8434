// Package cache is ibuild's content-addressed local store.
//
// A Store lives in a root directory (--root, /var/lib/ibuild by default)
// that is itself a valid OCI image layout, so skopeo ("oci:ROOT:NAME") and
// umoci can read the images tagged in it:
//
//	ROOT/oci-layout                 {"imageLayoutVersion":"1.0.0"}
//	ROOT/index.json                 tags: manifests annotated org.opencontainers.image.ref.name
//	ROOT/index.json.bak             the previous index.json, restored if the current one is garbled
//	ROOT/blobs/sha256/<hex>         every blob, verified before it becomes visible
//	ROOT/ingest/                    partial writes
//	ROOT/snapshots/<diffID-hex>/    layers extracted in overlayfs on-disk format
//	ROOT/steps/<key-hex>.json       step cache records
//	ROOT/stamps/<hex>               stat stamp of each committed blob
//	ROOT/usage/<hex>                last use of a snapshot
//	ROOT/explain/<id hash>.json     inputs of each Dockerfile step's last run (Explanation)
//	ROOT/context-memos/<dir hash>   content-hash memo of a build context (ContextMemo)
//	ROOT/mounts/                    per-RUN scratch directories
//	ROOT/cache-mounts/<id hash>/    RUN --mount=type=cache directories (CacheMountDir)
//	ROOT/lock                       flock guarding index.json updates
//	ROOT/gc.lock                    shared by every open Store, exclusive for Prune
//
// DiskUsage counts, and Prune collects, every kind of entry above except
// the layout files and locks, and stamps and usage markers, which go with
// their blob or snapshot. index.json, step records and explanations are
// replaced through internal/atomicfile (temp file, fsync, rename).
//
// Nothing half-written is ever visible. A blob is streamed into ingest/,
// its size and digest are checked, it is fsynced and only then renamed into
// blobs/. A snapshot is extracted into snapshots/.tmp-* and renamed when
// A crash at any instant therefore leaves a store that needs no repair;
// leftovers in ingest/ and snapshots/.tmp-* are swept by the next Open.
//
// Blobs are verified again when read: the reader returned by Store.Blob
// hashes what it delivers and fails at EOF if the digest does not match, and
// it removes the corrupt blob so that the next pull or build replaces it.
// No operation holds a whole layer in memory.
package cache

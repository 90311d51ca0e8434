// Package cachesync shares ibuild's step cache through an OCI registry or an
// OCI image layout directory (--cache-to / --cache-from).
//
// The cache travels as one OCI artifact: an image manifest whose config blob
// (media type [ConfigMediaType]) is an [Index] mapping step keys to
// [cache.StepRecord] values, and whose layers are the layer blobs those
// records name. Exporting ([Registry.Export], [Local.Export]) writes the
// records a build offers (only the target stage's with [ModeMin], all with
// [ModeMax]); importing ([Registry.GetStep], [Local.GetStep]) reads the index
// once, on the first lookup, and fetches a layer only when the builder asks
// for it ([Registry.OpenLayer]), so a build reusing every step downloads just
// the layers its final image needs.
//
// A cache reference that does not exist yet (the first CI run) is an empty
// cache, not an error. Every blob read from a source is verified by the
// store it is written into.
package cachesync

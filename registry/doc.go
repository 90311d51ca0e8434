// Package registry moves images between ibuild and the outside world: remote
// registries (pull, push, login), OCI image layouts and `docker load`
// archives.
//
// It is a thin layer over go-containerregistry. What it adds is docker's
// conventions and ibuild's error quality:
//
//   - references are parsed and normalised the way docker does it
//     (docker.io/library/..., :latest), see [ParseReference], [Normalize] and
//     [FamiliarName];
//   - localhost, 127.0.0.0/8, ::1 and the hosts given to
//     [WithInsecureRegistries] are insecure registries, as in docker: HTTPS
//     without certificate verification, falling back to plain HTTP;
//   - credentials come from docker's config.json and credential helpers
//     ([WithKeychain], [ConfigKeychain]) and are written there by [Login];
//   - every remote failure is an [*Error] naming the reference (and digest
//     where one is known) and saying whether a retry can help; credentials
//     never appear in error strings;
//   - pushes skip blobs the registry has, mount blobs from other
//     repositories ([WithMountFrom]), report each blob ([WithBlobProgress]),
//     upload blobs in chunks that, after a dropped connection or a 5xx,
//     resume from the offset the registry reports for the upload session,
//     retry temporary failures with backoff ([WithRetry]) and PUT the
//     manifest last; pulled layers survive dropped connections; a 401 for a
//     request that carried basic credentials is retried once, and an
//     expired bearer token is refreshed (go-containerregistry) with the
//     request, chunk bodies included, sent again;
//   - files are written through a temporary name and renamed, so a failed
//     export leaves no half-written archive or index.json behind;
//   - what a pull reads into memory is bounded: manifests and indexes to
//     [DefaultMaxManifestSize], configs to [DefaultMaxConfigSize]
//     ([WithMaxManifestSize], [WithMaxConfigSize]), failing with
//     [ErrTooLarge] before the config is fetched.
//
// Settings are passed in as [Option] values; nothing here reads the
// environment except go-containerregistry's [authn.DefaultKeychain], which is
// only the default when the caller passes no keychain.
//
// The subpackage registrytest starts a real registry server
// (/usr/bin/docker-registry) for tests of this and other packages, and a
// fault-injecting proxy (registrytest.FaultProxy) to put in front of it.
package registry

// Package attest makes the supply-chain attestations of a built image, in
// the format BuildKit attaches them: in-toto statements (an SPDX 2.3 SBOM,
// SLSA v0.2 provenance) stored as the layers of an attestation manifest
// that an image index lists beside the image (platform unknown/unknown,
// annotated vnd.docker.reference.type=attestation-manifest and
// vnd.docker.reference.digest=<image manifest digest>).
//
// SBOM scans the image's final filesystem: the dpkg and apk databases
// (internal/pkgdb, shared with `ibuild inspect`) and the module lists Go
// embeds in its binaries (debug/buildinfo). Provenance records what a
// build was given; the caller (cmd/ibuild) passes it as plain values, so
// this package imports only layer and internal.
package attest

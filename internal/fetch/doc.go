// Package fetch downloads one file over HTTP into a directory, bounded in
// size and verified against an expected digest: what ADD <url> needs.
//
// It is not part of the registry package, which speaks the OCI
// distribution protocol (authentication, manifests, blobs), nor of build,
// which decides what a Dockerfile means (the file's name in the image, its
// time when the server sends none). It is internal: ibuild's library users
// get downloads through build.Options.
//
// Package fetch imports no other ibuild package.
package fetch

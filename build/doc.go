// Package build turns a parsed Dockerfile and a build context into an OCI
// image in the local store.
//
// A build is planned first: the target stage is chosen, and only the stages
// it depends on (through FROM, COPY --from and RUN --mount from=) are built,
// each once. Each stage then runs its instructions in order. Metadata
// instructions only change the image config; COPY and ADD write a layer from
// the context, another stage or an image; RUN executes in the sandbox
// (package build/sandbox) on an overlay of the parent layers' snapshots and
// its overlay upper directory becomes the layer.
//
// Every step has a cache key (see key.go) chained from its parent's key, so an
// unchanged step is never run twice. Filesystem steps go through one step
// runner (step.go) that owns cache lookup, execution on a miss, the step
// record, explanations and progress. Every error returned by Build names the
// Dockerfile and line it came from.
package build

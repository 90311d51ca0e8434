// Package report is ibuild's size insight: it analyses images layer by layer
// (compressed sizes from the manifest, uncompressed sizes as tar stream
// lengths, file counts), finds waste (bytes later layers delete or overwrite,
// and files package managers and tools leave behind, see [DefaultRules]),
// scores efficiency as dive does, reads installed packages from the dpkg or
// apk database, suggests changes to the build that save bytes (each tied to
// the step that wrote them, see [Suggestion]), and compares variants of an
// image step by step.
//
// A [Report] is the versioned model behind `ibuild inspect` and
// `ibuild compare`; [Render] writes it as a terminal table, JSON (schema in
// docs/report-schema.md), Markdown or a self-contained HTML page with an
// inline SVG chart. [CheckBudgets] turns size limits into errors for CI.
//
// Every size field says what it measures: "compressed" is the layer blob as
// the manifest lists it; "uncompressed" is the length of the layer's tar
// stream; file and waste sizes are file content bytes (tar header sizes).
//
// report imports only layer: it knows images (v1.Image) and, for a built
// variant, the list of steps the caller hands [Variant.SetBuildSteps], not
// builds or Dockerfiles.
package report

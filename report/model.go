package report

import "time"

// SchemaVersion identifies the JSON layout of a [Report]; it changes when a
// field is removed or changes meaning (docs/report-schema.md).
const SchemaVersion = "ibuild.report/v1"

// Report is the result of `ibuild inspect` (one variant) or `ibuild compare`.
type Report struct {
	// Schema is [SchemaVersion].
	Schema string `json:"schema"`
	// Kind is "inspect" or "compare".
	Kind string `json:"kind"`
	// Variants are the images compared, in command-line order.
	Variants []*Variant `json:"variants"`
	// Rows aligns the variants' steps by instruction.
	Rows []Row `json:"rows"`
	// Shared is what the variants have in common (layers with equal digests).
	Shared Shared `json:"shared"`
	// Rules lists the waste rules that were applied.
	Rules []Rule `json:"rules"`
}

// Sizes is a pair of byte counts for a set of layers.
type Sizes struct {
	// Compressed is the sum of the layers' blob sizes as in the manifest.
	Compressed int64 `json:"compressedBytes"`
	// Uncompressed is the sum of the layers' tar stream lengths.
	Uncompressed int64 `json:"uncompressedBytes"`
	// Layers is the number of layers summed.
	Layers int `json:"layers"`
}

// Add adds the sizes of one layer.
func (s *Sizes) Add(l *Layer) {
	s.Compressed += l.Compressed
	s.Uncompressed += l.Uncompressed
	s.Layers++
}

// Variant is one analysed image and, when it was built, its steps.
type Variant struct {
	// Name labels the variant in tables ("debian:bookworm", "Dockerfile.alpine").
	Name string `json:"name"`
	// Source says where the image came from: the image reference, or the
	// Dockerfile and base that built it.
	Source string `json:"source"`
	// ManifestDigest and ConfigDigest identify the image.
	ManifestDigest string `json:"manifestDigest"`
	ConfigDigest   string `json:"configDigest"`
	// Base is the size of the layers that came from the base image (zero
	// when unknown: an image analysed alone).
	Base Sizes `json:"base"`
	// Total is the size of every layer of the image.
	Total Sizes `json:"total"`
	// Files is the number of non-directory entries in the final filesystem.
	Files int `json:"files"`
	// Layers describes each layer, bottom first.
	Layers []*Layer `json:"layers"`
	// Steps are the build steps that make up the image above its base
	// (built variants), or one step per history entry (analysed images).
	Steps []*Step `json:"steps"`
	// Waste is what the image carries for nothing.
	Waste Waste `json:"waste"`
	// Efficiency is dive's score: the sum over paths of the smallest size
	// seen in any layer divided by the sum of every layer's size for it.
	// It counts only content repeated across layers, not waste-rule
	// matches, so the rendered reports show [Variant.WasteShare] instead.
	Efficiency float64 `json:"efficiency"`
	// Suggestions are changes to the build that would save bytes, largest
	// saving first ([New] makes them; docs/report-schema.md lists the kinds).
	Suggestions []Suggestion `json:"suggestions"`
	// Packages are read from the dpkg or apk database, when present.
	Packages *Packages `json:"packages,omitempty"`
	// BuildTime is the wall-clock time of the build (zero when not built
	// or in deterministic output).
	BuildTime time.Duration `json:"buildTimeNanos,omitempty"`

	// findings are the waste items suggestions are made from (Analyze).
	findings []wasteItem
}

// Layer is one layer of an image.
type Layer struct {
	// Index is the layer's position, 0 = bottom.
	Index int `json:"index"`
	// Digest and DiffID are the compressed and uncompressed digests.
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID"`
	MediaType string `json:"mediaType"`
	// CreatedBy is the history entry of the layer.
	CreatedBy string `json:"createdBy"`
	// Compressed is the blob size in the manifest; Uncompressed is the tar
	// stream length.
	Compressed   int64 `json:"compressedBytes"`
	Uncompressed int64 `json:"uncompressedBytes"`
	// Files counts the layer's non-directory entries (whiteouts excluded);
	// FileBytes sums their content sizes.
	Files     int   `json:"files"`
	FileBytes int64 `json:"fileBytes"`
	// Deletes counts whiteout entries.
	Deletes int `json:"deletes"`
	// WasteBytes is the waste attributed to this layer: content it added that
	// a later layer removes or overwrites, or that matches a waste rule.
	WasteBytes int64 `json:"wasteBytes"`
	// Base is true for layers that came from the base image.
	Base bool `json:"base"`
}

// Step is one build step (or one history entry of an analysed image).
type Step struct {
	// Instruction is the Dockerfile instruction ("RUN apt-get install ...").
	Instruction string `json:"instruction"`
	// Location is "Dockerfile:7" for built variants.
	Location string `json:"location,omitempty"`
	// Layer is the index of the layer the step added, or -1.
	Layer int `json:"layer"`
	// Compressed and Uncompressed are the bytes the step added.
	Compressed   int64 `json:"compressedBytes"`
	Uncompressed int64 `json:"uncompressedBytes"`
	// WasteBytes is the waste attributed to the step's layer.
	WasteBytes int64 `json:"wasteBytes"`
	// Cached says the step came from the build cache.
	Cached bool `json:"cached,omitempty"`
	// Duration is how long the step took (omitted in deterministic output).
	Duration time.Duration `json:"durationNanos,omitempty"`
}

// Waste sums what an image carries for nothing; sizes are file content bytes.
type Waste struct {
	// Bytes is Shadowed + Rules.
	Bytes int64 `json:"bytes"`
	// Shadowed is content that a later layer deletes or overwrites.
	Shadowed int64 `json:"shadowedBytes"`
	// Rules is content in the final filesystem that matches a waste rule.
	Rules int64 `json:"ruleBytes"`
	// Groups break the waste down by kind, rule and layer, largest first.
	Groups []WasteGroup `json:"groups"`
}

// WasteGroup is the waste of one kind (and rule) added by one layer.
type WasteGroup struct {
	// Kind is "deleted", "overwritten" or "rule".
	Kind string `json:"kind"`
	// Rule names the matching rule for Kind "rule".
	Rule string `json:"rule,omitempty"`
	// Layer is the index of the layer that added the bytes; Step is its
	// instruction (or created_by) and location.
	Layer int    `json:"layer"`
	Step  string `json:"step"`
	// Bytes and Files sum the group.
	Bytes int64 `json:"bytes"`
	Files int   `json:"files"`
	// Examples are the group's largest paths (at most five).
	Examples []string `json:"examples"`
}

// Packages is the installed package database of the final filesystem.
type Packages struct {
	// Manager is "dpkg" or "apk"; Database is the file read.
	Manager  string `json:"manager"`
	Database string `json:"database"`
	// Count is the number of installed packages; Bytes sums their installed
	// sizes as the database records them (dpkg: Installed-Size KiB × 1024).
	Count int   `json:"count"`
	Bytes int64 `json:"installedBytes"`
	// List is sorted by name.
	List []Package `json:"list"`
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Bytes is the installed size from the database.
	Bytes int64 `json:"installedBytes"`
	// Layer is the first layer whose database lists the package.
	Layer int `json:"layer"`
}

// Row is one line of the step comparison: the cells of the variants whose
// steps align on it (nil where a variant has no such step).
type Row struct {
	// Instruction is the common instruction, or the variants' instructions
	// joined with " | " when they differ.
	Instruction string `json:"instruction"`
	// Cells holds one index into Variants[i].Steps per variant, or -1.
	Cells []int `json:"cells"`
}

// Shared is what the variants have in common.
type Shared struct {
	// Layers counts distinct layers present in at least two variants, and
	// the sizes sum each such layer once.
	Sizes
	// Digests lists those layers.
	Digests []string `json:"digests"`
}

// WasteShare is Waste.Bytes over the file content bytes all layers wrote
// (the sum of Layer.FileBytes): 0 when nothing is wasted, whatever the
// waste's kind. It is the figure the rendered reports print beside waste.
func (v *Variant) WasteShare() float64 {
	var all int64
	for _, l := range v.Layers {
		all += l.FileBytes
	}
	if all == 0 {
		return 0
	}
	return float64(v.Waste.Bytes) / float64(all)
}

package build

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/parser"
	"github.com/ibuild/ibuild/progress"
	"github.com/ibuild/ibuild/registry"
)

// DefaultEpoch is the timestamp used for image and history creation times and
// as the clamp for file modification times when no SOURCE_DATE_EPOCH (nor,
// in ibuild's command, a git commit time) is given: builds are reproducible
// by default, and with a date that zip, Python wheels and other tools that
// reject times before 1980 accept.
var DefaultEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Options describes one build. ContextDir and Store are required.
type Options struct {
	// ContextDir is the build context directory.
	ContextDir string
	// Dockerfile is the Dockerfile path shown in messages and read when
	// DockerfileData is nil. Default: ContextDir/Dockerfile.
	Dockerfile string
	// DockerfileData, when non-nil, is the Dockerfile's content (for -f -).
	DockerfileData []byte
	// IgnoreFile is the .dockerignore to apply; "" picks
	// <Dockerfile>.dockerignore or ContextDir/.dockerignore as docker does.
	IgnoreFile string

	// Tags are normalised references the result is tagged with.
	Tags []string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Target is the stage to build; "" is the last.
	Target string
	// Labels are added to the final image (--label).
	Labels map[string]string
	// Platform is the requested platform, or a comma-separated list of
	// them for a multi-platform build (an image index): "" is the host's.
	// Stages of a foreign platform RUN through binfmt_misc emulation.
	Platform string
	// BinfmtDir is where binfmt_misc is mounted, checked for the emulators
	// of foreign platforms; "" is DefaultBinfmtDir.
	BinfmtDir string

	// NoCache disables the step cache; NoCacheFilter disables it for the
	// named stages only.
	NoCache       bool
	NoCacheFilter []string
	// Pull always resolves FROM images against their registry.
	Pull bool

	// Compression and CompressionLevel choose how layers are compressed.
	Compression      layer.Compression
	CompressionLevel int
	// SourceDateEpoch clamps timestamps; nil means DefaultEpoch.
	SourceDateEpoch *time.Time

	// Store is the local content store and step cache.
	Store *cache.Store
	// Registry options for pulling bases.
	Registry []registry.Option
	// Download bounds ADD <url> transfers: the idle and total timeouts
	// (zero fields take registry's defaults), with at most MaxDownloadSize
	// bytes per file (0 = DefaultMaxDownloadSize).
	Download        registry.Timeouts
	MaxDownloadSize int64
	// Progress receives step events; nil discards them.
	Progress progress.Sink

	// Unprivileged makes the build a probe run outside the user namespace
	// a rootless build needs (Store opened with cache.Unprivileged): it
	// succeeds only when every step is a cache hit, and otherwise fails,
	// before anything is changed, with an error wrapping
	// cache.ErrUnprivileged: at the first step to execute, at a base image
	// to pull, at an ADD <url>. No base extraction starts ahead.
	Unprivileged bool
	// ContextOwners, when set, translates the owners of build context
	// files as their digests record them (buildctx.WithOwners): a probe
	// sees them as the builder in the user namespace does.
	ContextOwners func(uid, gid uint32) (uint32, uint32)

	// Jobs bounds the number of stages built at the same time; 0 means
	// DefaultJobs(), 1 builds one stage at a time.
	Jobs int

	// Run holds the settings of every RUN step.
	Run RunOptions

	// CacheFrom are step caches consulted after the local store misses
	// (--cache-from); CacheTo receives the build's steps (--cache-to).
	CacheFrom []StepSource
	CacheTo   []StepSink
	// NamedContexts are BuildKit's named contexts (--build-context), by
	// name: FROM and --from names that match one read it instead.
	NamedContexts map[string]NamedContext
}

// RunOptions are the settings of every RUN step of a build.
type RunOptions struct {
	// Settings go to each step's sandbox.Spec as they are: isolation
	// ("builtin", the default, or "oci") and OCI runtime, resource limits,
	// timeout (0 = none), no_new_privs (--security-opt
	// no-new-privileges), and the /etc/resolv.conf and /etc/hosts contents
	// (nil Hosts gives localhost and the sandbox's hostname).
	sandbox.Settings
	// Network is the network of RUN steps without their own --network:
	// NetworkDefault (when empty; a private network namespace with
	// outbound access through slirp4netns), NetworkHost or NetworkNone.
	Network string
	// AllowNetworkHost grants the network.host entitlement: RUN
	// --network=host is refused without it (unless Network is host).
	AllowNetworkHost bool
	// Secrets maps a secret id to the host file that feeds it.
	Secrets map[string]string
	// SSH maps an ssh id (--ssh ID=SOCKET, "default") to the ssh-agent
	// socket that RUN --mount=type=ssh forwards.
	SSH map[string]string
}

// Result is what a successful build produced. For a multi-platform build,
// Image, ConfigDigest and Layers are those of the first platform's image,
// Manifest describes the index and Index is set.
type Result struct {
	// Image is the built image, stored in Options.Store.
	Image v1.Image
	// Manifest is the descriptor of the image manifest (or index) in the
	// store.
	Manifest v1.Descriptor
	// ConfigDigest is the digest of the image config.
	ConfigDigest v1.Hash
	// Layers describes every layer of the image, base layers included.
	Layers []layer.Info
	// Index is the image index of a multi-platform build, with one
	// manifest per platform in the order asked for; nil for one platform.
	Index v1.ImageIndex
	// Platforms are the image of each platform built, in the order asked
	// for (one entry for a one-platform build).
	Platforms []PlatformImage
	// Steps lists the executed or cached steps in order.
	Steps []StepResult
	// Warnings are messages for the user (unused build args, parser warnings).
	Warnings []string
	// Sources are the images the build read, with the manifests they
	// resolved to (provenance materials).
	Sources []ImageSource
	// Dockerfile is the Dockerfile as it was built.
	Dockerfile []byte
}

// StepResult is the outcome of one step.
type StepResult struct {
	// Platform is the platform the step was built for ("linux/arm64")
	// and TargetPlatform that of the image it was built for (they differ
	// in a FROM --platform=$BUILDPLATFORM stage); set in multi-platform
	// builds only.
	Platform       string `json:"platform,omitempty"`
	TargetPlatform string `json:"targetPlatform,omitempty"`
	// Stage is the step's stage name, or its index when it has none;
	// StageIndex is its index among the Dockerfile's stages.
	Stage      string `json:"stage"`
	StageIndex int    `json:"stageIndex"`
	// Name is the step as progress shows it ("[2/5] RUN make");
	// Instruction is the instruction alone ("RUN make").
	Name        string `json:"name"`
	Instruction string `json:"instruction"`
	// Location is the instruction's place in the Dockerfile (JSON
	// "Dockerfile:7").
	Location parser.Location `json:"location"`
	// From marks the step that starts a stage from its base (FROM).
	From     bool          `json:"from,omitempty"`
	Cached   bool          `json:"cached"`
	Duration time.Duration `json:"duration"`
	// Layer is the layer the step added, or nil.
	Layer *layer.Info `json:"layer,omitempty"`
	// LayerIndex is the index of Layer among its stage's layers, or
	// NoLayer. For a step InTarget it is the index in Result.Layers.
	LayerIndex int `json:"layerIndex"`
	// InTarget says the step belongs to the target stage or to a stage the
	// target inherits through FROM <stage>: its layer is in the image.
	InTarget bool `json:"inTarget"`
	// Key is the step's cache key.
	Key string `json:"key,omitempty"`
	// MissReason says, for a step that ran, which of its inputs changed
	// since the last build of the same step.
	MissReason string `json:"missReason,omitempty"`
}

// PlatformImage is one platform's image of a build.
type PlatformImage struct {
	// Platform is the platform the image was built for, as the index
	// lists it.
	Platform v1.Platform
	// Image is the image, stored in Options.Store.
	Image v1.Image
	// Manifest is the descriptor of the image manifest, with Platform.
	Manifest v1.Descriptor
	// ConfigDigest is the digest of the image config.
	ConfigDigest v1.Hash
	// Layers describes every layer of the image.
	Layers []layer.Info
	// Sources are the images this platform's build read (provenance
	// materials).
	Sources []ImageSource
}

// NoLayer is StepResult.LayerIndex for a step that added no layer.
const NoLayer = -1

func (o *Options) epoch() time.Time {
	if o.SourceDateEpoch != nil {
		return o.SourceDateEpoch.UTC()
	}
	return DefaultEpoch
}

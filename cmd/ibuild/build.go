package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/attest"
	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/progress"
	"github.com/ibuild/ibuild/registry"
)

// buildOptions are the flags of `ibuild build`, as docker build spells them.
type buildOptions struct {
	file          string
	tags          []string
	buildArgs     []string
	target        string
	noCache       bool
	noCacheFilter []string
	pull          bool
	labels        []string
	outputs       []string
	iidfile       string
	metadataFile  string
	progress      string
	quiet         bool
	platform      string
	compression   string
	level         int
	network       string
	allow         []string
	secrets       []string
	isolation     string
	runtime       string
	memory        string
	pidsLimit     int64
	cpuQuota      int64
	stepTimeout   time.Duration
	securityOpts  []string
	insecure      []string
	push          bool
	explainCache  bool
	cacheFrom     []string
	cacheTo       []string
	jobs          int
	addHosts      []string
	ssh           []string
	load          bool
	buildContexts []string
	shmSize       string
	ulimits       []string
	binfmtDir     string
	sbom          string
	provenance    string
	attests       []string

	// att are the attestations --sbom, --provenance and --attest ask for
	// (set by toOptions).
	att attestOptions

	// cacheRep collects the cache endpoints' warnings and export error of
	// the current build (set by toOptions).
	cacheRep *cacheReport
}

func (o *buildOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "name of the Dockerfile (default PATH/Dockerfile; - reads stdin)")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "set a build-time variable (K=V, or K to take it from the environment)")
	f.StringVar(&o.target, "target", "", "set the target build stage")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVar(&o.noCacheFilter, "no-cache-filter", nil, "do not use the cache for the named stages")
	f.BoolVar(&o.pull, "pull", false, "always look up FROM images in their registry")
	f.StringArrayVar(&o.labels, "label", nil, "set metadata on the image (K=V)")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "output: type=oci,dest=DIR | type=docker,dest=FILE.tar | type=local,dest=DIR")
	f.StringVar(&o.iidfile, "iidfile", "", "write the image ID to the file")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write build result metadata (JSON) to the file")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain, json")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "suppress the build output and print the image ID on success")
	f.StringVar(&o.platform, "platform", "", "target platform, or a comma-separated list for a multi-platform image (linux/amd64,linux/arm64)")
	f.StringVar(&o.binfmtDir, "binfmt-dir", build.DefaultBinfmtDir, "where binfmt_misc is mounted (checked for the emulators of foreign platforms)")
	f.MarkHidden("binfmt-dir") //nolint:errcheck // the flag exists
	f.StringVar(&o.compression, "compression", "gzip", "layer compression: gzip, zstd or none")
	f.IntVar(&o.level, "compression-level", 0, "compression level (0 = the algorithm's default)")
	f.StringVar(&o.network, "network", "default", "RUN network: default (a private network with outbound access), host or none")
	f.StringArrayVar(&o.allow, "allow", nil, "grant an entitlement: network.host (RUN --network=host)")
	f.StringArrayVar(&o.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=NAME,src=FILE")
	f.StringVar(&o.isolation, "isolation", "builtin", "RUN isolation: builtin or oci")
	f.StringVar(&o.runtime, "runtime", "runc", "OCI runtime for --isolation=oci")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit per RUN step (e.g. 512m)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "process limit per RUN step (0 = default)")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "CPU µs per 100ms period per RUN step (0 = unlimited)")
	f.DurationVar(&o.stepTimeout, "step-timeout", 0, "kill a RUN step after this long (0 = no limit)")
	f.StringArrayVar(&o.securityOpts, "security-opt", nil, "security options for RUN: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry host to reach over plain HTTP")
	f.BoolVar(&o.push, "push", false, "push every tag after a successful build")
	f.BoolVar(&o.explainCache, "explain-cache", false, "after the build, print why each step that ran missed the cache")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import build cache: type=registry,ref=REF | type=local,src=DIR")
	f.IntVar(&o.jobs, "jobs", build.DefaultJobs(), "stages built at the same time (default: the CPUs, at least 2)")
	f.StringArrayVar(&o.buildContexts, "build-context", nil, "additional build context: NAME=DIR | NAME=docker-image://REF | NAME=oci-layout://DIR[:TAG]")
	f.BoolVar(&o.load, "load", false, "load the image into the docker daemon at DOCKER_HOST (default unix:///var/run/docker.sock)")
	f.StringArrayVar(&o.ssh, "ssh", nil, "ssh agent for RUN --mount=type=ssh: default (uses $SSH_AUTH_SOCK) or ID=SOCKET")
	f.StringArrayVar(&o.addHosts, "add-host", nil, "add a custom host-to-IP mapping to RUN's /etc/hosts (NAME:IP)")
	f.StringVar(&o.shmSize, "shm-size", "", "size of /dev/shm in RUN steps (e.g. 128m; default 64m)")
	f.StringArrayVar(&o.ulimits, "ulimit", nil, "resource limit of RUN steps, docker's syntax (e.g. nofile=1024:2048)")
	f.StringVar(&o.sbom, "sbom", "", "attach an SPDX SBOM of the image's packages and Go modules: true | false")
	f.StringVar(&o.provenance, "provenance", "", "attach SLSA provenance: true (mode=min) | false | mode=min|max[,builder-id=ID]")
	f.StringArrayVar(&o.attests, "attest", nil, "attestation: type=sbom | type=provenance[,mode=min|max]")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "export build cache: type=registry,ref=REF[,mode=min|max][,ignore-error=true] | type=local,dest=DIR[,mode=min|max][,ignore-error=true]")
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	bo := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, g, bo, args[0])
		},
	}
	bo.bind(cmd)
	return cmd
}

func runBuild(cmd *cobra.Command, g *globalOptions, o *buildOptions, contextDir string) error {
	if err := probeBuild(o, contextDir); err != nil {
		return err
	}
	if contextDir == "-" {
		n, err := units.RAMInBytes(g.maxLayerSize)
		if err != nil {
			return fmt.Errorf("invalid --max-layer-size %q: %w", g.maxLayerSize, err)
		}
		dir, file, cleanup, err := stdinContext(cmd.Context(), cmd.InOrStdin(), o.file,
			layer.WithMaxSize(n), layer.WithMaxEntries(g.maxLayerEntries), layer.WithMaxRatio(g.maxLayerRatio))
		if err != nil {
			return err
		}
		defer cleanup()
		contextDir, o.file = dir, file
	}
	var git *attest.Git
	if isGitContext(contextDir) {
		dir, commit, cleanup, err := gitContext(cmd.Context(), contextDir)
		if err != nil {
			return err
		}
		defer cleanup()
		url, _, _ := strings.Cut(strings.TrimPrefix(contextDir, "git+"), "#")
		git = &attest.Git{URL: url, Commit: commit, Remote: true}
		contextDir = dir
	} else if o.provenance != "" || len(o.attests) > 0 {
		git = contextGit(cmd.Context(), contextDir)
	}
	res, opt, outs, err := o.execute(cmd, g, contextDir, nil)
	if err != nil {
		return err
	}
	defer opt.Store.Close()
	store := opt.Store
	for _, w := range res.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING:", w)
	}
	if o.explainCache {
		explainCache(cmd.ErrOrStderr(), res)
	}
	var att *attached
	var idx v1.ImageIndex
	if o.att.any() {
		if att, err = o.attestIndex(cmd.Context(), res, opt, git); err != nil {
			return err
		}
		idx = att.idx
	}
	for _, out := range outs {
		if err := out.write(cmd, store, res, opt.Tags, att); err != nil {
			return err
		}
	}
	if o.load {
		if err := loadIntoDocker(cmd.Context(), cmd.ErrOrStderr(), os.Getenv("DOCKER_HOST"), res, opt.Tags); err != nil {
			return err
		}
	}
	if pushTypes, push := o.pushTypes(outs); push {
		dig, err := pushTags(cmd.Context(), cmd.ErrOrStderr(), o.quiet, res, idx, opt.Tags, cacheRefs(o.cacheFrom), opt.Registry, pushTypes)
		if err != nil {
			return err
		}
		res.Manifest.Digest = dig // containerimage.digest is what was pushed, as BuildKit's
	} else if idx != nil {
		if res.Manifest.Digest, err = idx.Digest(); err != nil { // BuildKit's: the index
			return err
		}
	}
	id := res.ConfigDigest
	if res.Index != nil {
		id = res.Manifest.Digest // a multi-platform image is known by its index, as in BuildKit
	}
	if o.iidfile != "" {
		if err := atomicfile.WriteFile(o.iidfile, []byte(id.String()), 0o644); err != nil {
			return fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	if o.metadataFile != "" {
		if err := writeMetadata(o.metadataFile, res, opt.Tags); err != nil {
			return fmt.Errorf("writing --metadata-file: %w", err)
		}
	}
	o.printResult(cmd, res, id, opt.Tags)
	return o.cacheRep.err()
}

// printResult says what was built: the image ID alone with -q.
func (o *buildOptions) printResult(cmd *cobra.Command, res *build.Result, id v1.Hash, tags []string) {
	switch {
	case o.quiet:
		fmt.Fprintln(cmd.OutOrStdout(), id)
	case res.Index != nil:
		var plats []string
		for _, p := range res.Platforms {
			plats = append(plats, platformName(p.Platform))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "built index %s (%s)\n", res.Manifest.Digest, strings.Join(plats, ", "))
	default:
		fmt.Fprintf(cmd.ErrOrStderr(), "built image %s (manifest %s)\n", res.ConfigDigest, res.Manifest.Digest)
	}
	for _, t := range tags {
		if !o.quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "tagged %s\n", registry.FamiliarName(t))
		}
	}
}

// execute runs one build of contextDir with the flags of o: the path both
// `ibuild build` and `ibuild compare` take. edit, if not nil, adjusts the
// options first. On success the caller closes the returned Options.Store,
// in which the result lives.
func (o *buildOptions) execute(cmd *cobra.Command, g *globalOptions, contextDir string, edit func(*build.Options) error) (*build.Result, build.Options, []output, error) {
	opt, outs, err := o.toOptions(cmd, g, contextDir)
	if err == nil && edit != nil {
		err = edit(&opt)
	}
	probeOptions(&opt)
	if err != nil {
		return nil, opt, nil, err
	}
	if err := rootlessWarnings(cmd.ErrOrStderr(), o.isolation); err != nil {
		return nil, opt, nil, err
	}
	if opt.Store, err = g.store(cmd); err != nil {
		return nil, opt, nil, err
	}
	mode := o.progress
	if o.quiet {
		mode = "quiet"
	}
	// NO_COLOR (no-color.org) turns the tty display's colours off.
	pr, err := progress.New(mode, cmd.ErrOrStderr(), append(progressOptions(), progress.WithColor(os.Getenv("NO_COLOR") == ""))...)
	if err != nil {
		opt.Store.Close()
		return nil, opt, nil, err
	}
	opt.Progress = pr
	res, err := build.Build(cmd.Context(), opt)
	pr.Close()
	o.cacheRep.flush(cmd.ErrOrStderr())
	if err != nil {
		opt.Store.Close()
		return nil, opt, nil, err
	}
	return res, opt, outs, nil
}

// toOptions validates the flags and turns them into build.Options.
func (o *buildOptions) toOptions(cmd *cobra.Command, g *globalOptions, contextDir string) (build.Options, []output, error) {
	opt := build.Options{ContextDir: contextDir, Target: o.target, NoCache: o.noCache,
		NoCacheFilter: o.noCacheFilter, Pull: o.pull, Platform: o.platform, BinfmtDir: o.binfmtDir, CompressionLevel: o.level, Jobs: o.jobs}
	opt.Run.Network, opt.Run.Isolation, opt.Run.Runtime, opt.Run.Timeout = o.network, o.isolation, o.runtime, o.stepTimeout
	if o.jobs < 1 {
		return opt, nil, fmt.Errorf("invalid --jobs %d: at least one stage must be built at a time", o.jobs)
	}
	fi, err := os.Stat(contextDir)
	if err != nil {
		return opt, nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	if !fi.IsDir() {
		return opt, nil, fmt.Errorf("unable to prepare context: %s is not a directory", contextDir)
	}
	switch o.file {
	case "-":
		data, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return opt, nil, fmt.Errorf("reading Dockerfile from stdin: %w", err)
		}
		opt.Dockerfile, opt.DockerfileData = "-", data
	case "":
		opt.Dockerfile = filepath.Join(contextDir, "Dockerfile")
	default:
		opt.Dockerfile = o.file
	}
	if opt.Compression, err = layer.ParseCompression(o.compression); err != nil {
		return opt, nil, err
	}
	if opt.Tags, err = normalizeTags(o.tags); err != nil {
		return opt, nil, err
	}
	if opt.BuildArgs, err = parseKV(o.buildArgs, "--build-arg", true); err != nil {
		return opt, nil, err
	}
	if opt.Labels, err = parseKV(o.labels, "--label", false); err != nil {
		return opt, nil, err
	}
	if opt.Run.Secrets, err = parseSecrets(o.secrets); err != nil {
		return opt, nil, err
	}
	if err := o.networkSettings(&opt); err != nil {
		return opt, nil, err
	}
	if o.isolation != sandbox.IsolationBuiltin && o.isolation != sandbox.IsolationOCI {
		return opt, nil, fmt.Errorf("invalid --isolation %q: want builtin or oci", o.isolation)
	}
	if o.memory != "" {
		if opt.Run.Limits.Memory, err = units.RAMInBytes(o.memory); err != nil {
			return opt, nil, fmt.Errorf("invalid --memory %q: %w", o.memory, err)
		}
	}
	opt.Run.Limits.Pids, opt.Run.Limits.CPUQuota = o.pidsLimit, o.cpuQuota
	if err := o.runSettings(&opt); err != nil {
		return opt, nil, err
	}
	if opt.NamedContexts, err = parseBuildContexts(o.buildContexts); err != nil {
		return opt, nil, err
	}
	if opt.Run.SSH, err = parseSSH(o.ssh, os.Getenv("SSH_AUTH_SOCK")); err != nil {
		return opt, nil, err
	}
	if o.load {
		if _, err := dockerSocket(os.Getenv("DOCKER_HOST")); err != nil {
			return opt, nil, err // before building: nothing to load it into
		}
	}
	for _, so := range o.securityOpts {
		if err := parseSecurityOpt(so, &opt); err != nil {
			return opt, nil, err
		}
	}
	if opt.SourceDateEpoch, err = buildEpoch(cmd.Context(), contextDir, opt.BuildArgs); err != nil {
		return opt, nil, err
	}
	if rc, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		opt.Run.ResolvConf = rc
	}
	if opt.Registry, err = g.registryOptions(o.insecure); err != nil {
		return opt, nil, err
	}
	opt.Download = g.timeouts()
	if opt.MaxDownloadSize, err = g.downloadLimit(); err != nil {
		return opt, nil, err
	}
	o.cacheRep = &cacheReport{}
	if opt.CacheFrom, err = parseCacheFrom(o.cacheFrom, opt.Registry, o.cacheRep); err != nil {
		return opt, nil, err
	}
	if opt.CacheTo, err = parseCacheTo(o.cacheTo, opt.Registry, o.cacheRep); err != nil {
		return opt, nil, err
	}
	outs, err := parseOutputs(o.outputs)
	if err != nil {
		return opt, nil, err
	}
	if err := checkMultiOutputs(o.platform, outs, o.load); err != nil {
		return opt, nil, err
	}
	if o.att, err = parseAttest(o.sbom, o.provenance, o.attests); err != nil {
		return opt, nil, err
	}
	if _, push := o.pushTypes(outs); push && len(opt.Tags) == 0 {
		return opt, nil, fmt.Errorf("--push and --output type=registry need at least one --tag")
	}
	return opt, outs, nil
}

// pushTypes says whether the build pushes its tags (--push or an output of
// type=registry) and with which media types: OCI, as BuildKit's pushes,
// unless type=registry,oci-mediatypes=false asks for Docker's.
func (o *buildOptions) pushTypes(outs []output) (registry.MediaTypes, bool) {
	push, types := o.push, registry.OCITypes
	for _, out := range outs {
		if out.typ == "registry" {
			push = true
			if out.dockerTypes {
				types = registry.DockerTypes
			}
		}
	}
	return types, push
}

// parseKV parses K=V flags; with fromEnv, a bare K takes its value from the
// environment (and is skipped when unset), as docker's --build-arg does.
func parseKV(vals []string, flag string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid %s %q: want KEY=VALUE", flag, v)
		}
		if !ok {
			if !fromEnv {
				out[k] = ""
				continue
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			val = ev
		}
		out[k] = val
	}
	return out, nil
}

func parseSecrets(vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		f, err := parseFields("--secret", v, "type", "id", "src", "source")
		if err != nil {
			return nil, err
		}
		if t, ok := f["type"]; ok && t != "file" {
			return nil, fmt.Errorf("invalid --secret %q: only type=file is supported", v)
		}
		id, src := f["id"], f["src"]
		if s, ok := f["source"]; ok {
			src = s
		}
		if id == "" || src == "" {
			return nil, fmt.Errorf("invalid --secret %q: want id=NAME,src=FILE", v)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("--secret id=%s: %w", id, err)
		}
		out[id] = src
	}
	return out, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH from the environment.
func sourceDateEpoch() (*time.Time, error) {
	return sourceDateEpochWith(nil)
}

// sourceDateEpochWith prefers a SOURCE_DATE_EPOCH build arg, then the
// environment variable, as BuildKit does.
func sourceDateEpochWith(args map[string]string) (*time.Time, error) {
	v, ok := args["SOURCE_DATE_EPOCH"]
	if !ok {
		v = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: %w", v, err)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// explainCache prints each step with CACHED or the reason it ran.
func explainCache(w io.Writer, res *build.Result) {
	fmt.Fprintln(w, "cache report:")
	for _, s := range res.Steps {
		why := "CACHED"
		if !s.Cached {
			why = "ran: " + s.MissReason
			if s.MissReason == "" {
				why = "ran"
			}
		}
		fmt.Fprintf(w, "  %s (%s): %s\n", s.Name, s.Location, why)
	}
}

// parseSecurityOpt applies one --security-opt as docker does:
// no-new-privileges, seccomp=unconfined or seccomp=FILE (a JSON profile,
// read here; its rules are checked before the first RUN step).
func parseSecurityOpt(so string, opt *build.Options) error {
	switch so {
	case "no-new-privileges", "no-new-privileges=true", "no-new-privileges:true":
		opt.Run.NoNewPrivs = true
		return nil
	case "no-new-privileges=false", "no-new-privileges:false":
		opt.Run.NoNewPrivs = false
		return nil
	}
	key, value, ok := strings.Cut(so, "=")
	if !ok {
		key, value, ok = strings.Cut(so, ":")
	}
	if !ok || key != "seccomp" || value == "" {
		return fmt.Errorf("unsupported --security-opt %q", so)
	}
	if value == "unconfined" {
		opt.Run.Seccomp = value
		return nil
	}
	data, err := os.ReadFile(value)
	if err != nil {
		return fmt.Errorf("--security-opt seccomp: reading profile: %w", err)
	}
	var profile map[string]any
	if err := json.Unmarshal(data, &profile); err != nil {
		return fmt.Errorf("--security-opt seccomp: profile %s: %w", value, err)
	}
	opt.Run.Seccomp = string(data)
	return nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/parser"
	"github.com/ibuild/ibuild/report"
)

// compareOptions are the flags of `ibuild compare`.
type compareOptions struct {
	reportOptions
	files   []string
	bases   []string
	baseArg string
	build   buildOptions
}

// notForCompare are build flags compare does not take over: it has its own
// -f (repeatable) and -o (the report), and it neither tags nor pushes.
var notForCompare = map[string]bool{"file": true, "tag": true, "output": true, "iidfile": true,
	"metadata-file": true, "quiet": true, "push": true, "insecure-registry": true,
	"sbom": true, "provenance": true, "attest": true}

func newCompareCmd(g *globalOptions) *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare [OPTIONS] (-f DOCKERFILE [--base REF]... | -f A -f B ...) CONTEXT | IMAGE IMAGE...",
		Short: "Compare the sizes, steps and waste of image variants",
		Long: "Build a Dockerfile once per --base (replacing the target stage's root FROM image, or with\n" +
			"--base-arg NAME setting that build arg), build several Dockerfiles (-f A -f B), or compare built\n" +
			"images, and report each variant's sizes step by step. The report opens with the answer (the\n" +
			"smallest variant, by how much) and suggestions tied to Dockerfile lines. Builds use the normal build cache.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCompare(cmd, g, o, args) },
	}
	o.reportOptions.bind(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "Dockerfile of a variant (repeatable)")
	f.StringArrayVar(&o.bases, "base", nil, "build the Dockerfile on this base image (repeatable)")
	f.StringVar(&o.baseArg, "base-arg", "", "set this build arg to each --base instead of rewriting FROM")
	scratch := &cobra.Command{}
	o.build.bind(scratch)
	scratch.Flags().VisitAll(func(fl *pflag.Flag) {
		if !notForCompare[fl.Name] {
			f.AddFlag(fl)
		}
	})
	return cmd
}

// variantSpec is one build of a comparison.
type variantSpec struct {
	name, file, base string
}

func runCompare(cmd *cobra.Command, g *globalOptions, o *compareOptions, args []string) error {
	rules, b, store, err := o.prepare(cmd, g)
	if err != nil {
		return err
	}
	defer store.Close()
	var variants []*report.Variant
	if len(o.files) == 0 && len(o.bases) == 0 {
		ropts, err := g.registryOptions(o.insecure)
		if err != nil {
			return err
		}
		for _, ref := range args {
			v, err := analyzeRef(cmd.Context(), store, ref, rules, ropts)
			if err != nil {
				return err
			}
			variants = append(variants, v)
		}
		report.SetCommonBase(variants)
		return o.finish(cmd, report.New("compare", variants, rules), b)
	}
	if len(args) != 1 {
		return fmt.Errorf("compare with -f or --base takes one build context, got %d arguments", len(args))
	}
	specs, err := o.specs(args[0])
	if err != nil {
		return err
	}
	o.build.insecure = o.insecure
	for _, sp := range specs {
		v, err := o.buildVariant(cmd, g, args[0], sp, rules)
		if err != nil {
			return fmt.Errorf("variant %s: %w", sp.name, err)
		}
		variants = append(variants, v)
	}
	return o.finish(cmd, report.New("compare", variants, rules), b)
}

// specs lists the builds: one per --base, or one per -f.
func (o *compareOptions) specs(contextDir string) ([]variantSpec, error) {
	if len(o.bases) > 0 {
		if len(o.files) > 1 {
			return nil, errors.New("--base compares one Dockerfile on several bases: give at most one -f")
		}
		file := filepath.Join(contextDir, "Dockerfile")
		if len(o.files) == 1 {
			file = o.files[0]
		}
		var out []variantSpec
		for _, base := range o.bases {
			out = append(out, variantSpec{name: base, file: file, base: base})
		}
		return out, nil
	}
	if o.baseArg != "" {
		return nil, errors.New("--base-arg needs --base")
	}
	var out []variantSpec
	for _, f := range o.files {
		out = append(out, variantSpec{name: f, file: f})
	}
	return out, nil
}

// buildVariant builds one variant through the normal build path and cache,
// and analyses the result.
func (o *compareOptions) buildVariant(cmd *cobra.Command, g *globalOptions, contextDir string, sp variantSpec, rules []report.Rule) (*report.Variant, error) {
	bo := o.build
	bo.file = sp.file
	data, err := os.ReadFile(sp.file)
	if err != nil {
		return nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	source := sp.file
	if sp.base != "" {
		source = fmt.Sprintf("%s with base %s", sp.file, sp.base)
		if o.baseArg != "" {
			source = fmt.Sprintf("%s with --build-arg %s=%s", sp.file, o.baseArg, sp.base)
		} else if data, err = parser.RewriteBase(sp.file, data, bo.target, sp.base); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	res, opt, _, err := bo.execute(cmd, g, contextDir, func(opt *build.Options) error {
		if sp.base != "" && o.baseArg != "" {
			opt.BuildArgs[o.baseArg] = sp.base
		}
		opt.DockerfileData = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer opt.Store.Close()
	elapsed := time.Since(start)
	v, err := report.Analyze(cmd.Context(), res.Image, rules, opt.Store.LayerLimits()...)
	if err != nil {
		return nil, fmt.Errorf("analysing the built image: %w", err)
	}
	if err := v.SetBuildSteps(reportSteps(res)); err != nil {
		return nil, err
	}
	v.Name, v.Source, v.BuildTime = sp.name, source, elapsed
	return v, nil
}

// reportSteps are the steps of res that made the image's layers above its
// base: those of the target stage and the stages it inherits, FROM lines
// excluded.
func reportSteps(res *build.Result) []report.BuildStep {
	var out []report.BuildStep
	for _, sr := range res.Steps {
		if !sr.InTarget || sr.From {
			continue
		}
		s := report.BuildStep{Instruction: sr.Instruction, Location: sr.Location.String(), Cached: sr.Cached,
			Duration: sr.Duration, Layer: -1}
		if sr.LayerIndex != build.NoLayer {
			s.Layer, s.LayerDigest = sr.LayerIndex, sr.Layer.Digest.String()
		}
		out = append(out, s)
	}
	return out
}

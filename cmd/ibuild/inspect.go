package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/report"
)

// reportOptions are the output and budget flags of inspect and compare.
type reportOptions struct {
	format      string
	output      string
	wasteRules  []string
	maxSize     []string
	maxWaste    string
	baseline    string
	maxIncrease string
	insecure    []string
}

func (o *reportOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "report format: "+strings.Join(report.Formats, ", "))
	f.StringVarP(&o.output, "output", "o", "", "write the report to FILE instead of stdout")
	f.StringArrayVar(&o.wasteRules, "waste-rule", nil, "also count files matching GLOB as waste (** matches any directories)")
	f.StringArrayVar(&o.maxSize, "max-size", nil, "fail if a variant's compressed size exceeds SIZE (uncompressed=SIZE for the tar size)")
	f.StringVar(&o.maxWaste, "max-waste", "", "fail if a variant's waste exceeds SIZE")
	f.StringVar(&o.baseline, "baseline", "", "earlier JSON report to compare sizes against (with --max-increase)")
	f.StringVar(&o.maxIncrease, "max-increase", "", "fail if a variant grew more than this over --baseline (5% or 1MB)")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry host to reach over plain HTTP")
}

// prepare parses the waste rules and budgets and opens the store: what
// every report command needs first. The caller closes the store.
func (o *reportOptions) prepare(cmd *cobra.Command, g *globalOptions) ([]report.Rule, report.Budgets, *cache.Store, error) {
	rules, err := o.rules()
	if err != nil {
		return nil, report.Budgets{}, nil, err
	}
	b, err := o.budgets()
	if err != nil {
		return nil, report.Budgets{}, nil, err
	}
	store, err := g.store(cmd)
	return rules, b, store, err
}

// rules returns the default waste rules plus --waste-rule globs.
func (o *reportOptions) rules() ([]report.Rule, error) {
	rules := append([]report.Rule{}, report.DefaultRules...)
	for _, g := range o.wasteRules {
		r, err := report.CustomRule(g)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// budgets parses the budget flags.
func (o *reportOptions) budgets() (report.Budgets, error) {
	var b report.Budgets
	var err error
	for _, s := range o.maxSize {
		if v, ok := strings.CutPrefix(s, "uncompressed="); ok {
			if b.MaxUncompressed, err = report.ParseSize("--max-size", v); err != nil {
				return b, err
			}
			continue
		}
		if b.MaxCompressed, err = report.ParseSize("--max-size", strings.TrimPrefix(s, "compressed=")); err != nil {
			return b, err
		}
	}
	if o.maxWaste != "" {
		if b.MaxWaste, err = report.ParseSize("--max-waste", o.maxWaste); err != nil {
			return b, err
		}
	}
	if (o.baseline == "") != (o.maxIncrease == "") {
		return b, errors.New("--baseline and --max-increase go together")
	}
	if o.baseline != "" {
		if b.MaxIncrease, err = report.ParseIncrease(o.maxIncrease); err != nil {
			return b, err
		}
		if b.Baseline, err = report.ReadFile(o.baseline); err != nil {
			return b, fmt.Errorf("--baseline: %w", err)
		}
	}
	return b, nil
}

// finish writes the report and then checks the budgets.
func (o *reportOptions) finish(cmd *cobra.Command, r *report.Report, b report.Budgets) error {
	var w io.Writer = cmd.OutOrStdout()
	var f *os.File
	if o.output != "" {
		var err error
		if f, err = os.Create(o.output); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		w = f
	}
	err := report.Render(w, r, o.format)
	if f != nil {
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := report.CheckBudgets(r, b); err != nil {
		return fmt.Errorf("over budget:\n%w", err)
	}
	return nil
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE",
		Short: "Show an image's layers, sizes, waste, packages and suggestions",
		Long: "IMAGE is a local tag, a registry reference, oci:DIR[:TAG] or docker-archive:FILE[:TAG].\n" +
			"Compressed sizes are the manifest's; uncompressed sizes are tar stream lengths. The report opens\n" +
			"with the sizes and the changes that would save bytes, each tied to the step that wrote them.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, b, store, err := o.prepare(cmd, g)
			if err != nil {
				return err
			}
			defer store.Close()
			ropts, err := g.registryOptions(o.insecure)
			if err != nil {
				return err
			}
			v, err := analyzeRef(cmd.Context(), store, args[0], rules, ropts)
			if err != nil {
				return err
			}
			return o.finish(cmd, report.New("inspect", []*report.Variant{v}, rules), b)
		},
	}
	o.bind(cmd)
	return cmd
}

// analyzeRef opens and analyses the image ref names.
func analyzeRef(ctx context.Context, store *cache.Store, ref string, rules []report.Rule, ropts []registry.Option) (*report.Variant, error) {
	img, src, err := openImage(ctx, store, ref, ropts)
	if err != nil {
		return nil, err
	}
	v, err := report.Analyze(ctx, img, rules, store.LayerLimits()...)
	if err != nil {
		return nil, fmt.Errorf("analysing %s: %w", ref, err)
	}
	v.Name, v.Source = ref, src
	return v, nil
}

// openImage resolves oci:DIR[:TAG], docker-archive:FILE[:TAG], a local tag
// or, failing that, a registry reference, read with ropts. It returns the
// image and a description of where it came from.
func openImage(ctx context.Context, store *cache.Store, ref string, ropts []registry.Option) (v1.Image, string, error) {
	if rest, ok := strings.CutPrefix(ref, "oci:"); ok {
		dir, tag := splitPathTag(rest)
		img, err := registry.ReadOCILayout(ctx, dir, tag)
		return img, "OCI layout " + rest, err
	}
	if rest, ok := strings.CutPrefix(ref, "docker-archive:"); ok {
		file, tag := splitPathTag(rest)
		img, err := registry.ReadDockerArchive(ctx, file, tag)
		return img, "docker archive " + rest, err
	}
	n, err := registry.Normalize(ref)
	if err != nil {
		return nil, "", err
	}
	desc, lerr := store.Resolve(ctx, n)
	if lerr == nil {
		img, err := store.Image(ctx, desc.Digest)
		return img, "local " + n + "@" + desc.Digest.String(), err
	}
	img, err := registry.Image(ctx, ref, ropts...)
	if err != nil {
		return nil, "", fmt.Errorf("image %s: not in the local store (%v), and from its registry: %w", ref, lerr, err)
	}
	return img, "registry " + n, nil
}

// splitPathTag splits "DIR:TAG"; a colon followed by a path is part of DIR.
func splitPathTag(s string) (string, string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Contains(s[i+1:], "/") {
		return s, ""
	}
	return s[:i], s[i+1:]
}

package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/parser"
)

// ImportOptions describes `ibuild import`.
type ImportOptions struct {
	// Source is a root filesystem: a directory, a (possibly compressed) tar
	// file, or "-" for a tar on Stdin.
	Source string
	Stdin  io.Reader
	// Tags are normalised references for the image.
	Tags []string
	// Changes are Dockerfile instructions applied to the config
	// (docker import --change), e.g. `ENV PATH=/bin` or `CMD ["sh"]`.
	Changes []string
	// Message is the history comment.
	Message          string
	Compression      layer.Compression
	CompressionLevel int
	SourceDateEpoch  *time.Time
	Store            *cache.Store
}

// Import makes a one-layer image from a root filesystem, like docker import.
func Import(ctx context.Context, opt ImportOptions) (*Result, error) {
	if opt.Compression == "" {
		opt.Compression = layer.Gzip
	}
	epoch := (&Options{SourceDateEpoch: opt.SourceDateEpoch}).epoch()
	config := configApplier{epoch: epoch, global: newArgScope()}
	st := scratchState()
	st.cfg.Config.Env = nil
	info, err := importLayer(ctx, opt)
	if err != nil {
		return nil, err
	}
	st.layers = append(st.layers, info)
	msg := opt.Message
	if msg == "" {
		msg = "Imported from " + opt.Source
	}
	st.cfg.History = append(st.cfg.History, v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "ibuild import", Comment: msg})
	for _, ch := range opt.Changes {
		cmd, err := parseTrigger(ch)
		if err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(func(w string) (string, error) {
				s, _, err := parser.NewLex(config.escape).ProcessWord(w, envGetter(st.args, st.cfg.Config.Env))
				return s, err
			}); err != nil {
				return nil, fmt.Errorf("--change %q: %w", ch, err)
			}
		}
		if err := config.apply(st, cmd); err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
	}
	return storeImage(ctx, opt.Store, st, epoch, opt.Tags)
}

func importLayer(ctx context.Context, opt ImportOptions) (layer.Info, error) {
	epoch := DefaultEpoch
	if opt.SourceDateEpoch != nil {
		epoch = *opt.SourceDateEpoch
	}
	if opt.Source != "-" {
		fi, err := os.Stat(opt.Source)
		if err != nil {
			return layer.Info{}, fmt.Errorf("import: %w", err)
		}
		if fi.IsDir() {
			pr := layer.Pipe(func(w io.Writer) error {
				return layer.WriteDir(ctx, w, opt.Source, "", layer.TarOptions{SourceDateEpoch: &epoch})
			})
			info, err := opt.Store.WriteLayer(ctx, pr, opt.Compression, opt.CompressionLevel)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return layer.Info{}, fmt.Errorf("import %s: %w", opt.Source, err)
			}
			return info, nil
		}
	}
	var in io.Reader = opt.Stdin
	if opt.Source != "-" {
		f, err := os.Open(opt.Source)
		if err != nil {
			return layer.Info{}, fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}
	rc, err := layer.Decompress(in, opt.Store.LayerLimits()...)
	if err != nil {
		return layer.Info{}, fmt.Errorf("import %s: %w", opt.Source, err)
	}
	defer rc.Close()
	pr := layer.Pipe(func(w io.Writer) error { return normalizeTar(w, rc, epoch) })
	info, err := opt.Store.WriteLayer(ctx, pr, opt.Compression, opt.CompressionLevel)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return layer.Info{}, fmt.Errorf("import %s: %w", opt.Source, err)
	}
	return info, nil
}

// normalizeTar rewrites a root filesystem tar with normalised headers and
// paths relative to the root (see layer.Rewrite).
func normalizeTar(w io.Writer, r io.Reader, epoch time.Time) error {
	tw := layer.NewTarWriter(w, layer.TarOptions{SourceDateEpoch: &epoch})
	if err := layer.Rewrite(tw, r, ""); err != nil {
		return err
	}
	return tw.Close()
}

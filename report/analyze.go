package report

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/layer"
)

// Analyze streams every layer of img once and returns its sizes, files,
// waste (with rules; nil means [DefaultRules]), efficiency score and
// installed packages. The variant's Steps are one per history entry; a
// built variant replaces them with [Variant.SetBuildSteps].
//
// Compressed sizes are checked against the manifest while streaming: a blob
// whose length differs is an error naming the layer digest. limits bound
// each layer's decompression (layer.WithMaxSize and friends, as the store
// applies them); a layer past one is an error wrapping layer.ErrLimit.
func Analyze(ctx context.Context, img v1.Image, rules []Rule, limits ...layer.Option) (*Variant, error) {
	if rules == nil {
		rules = DefaultRules
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	v := &Variant{}
	if d, err := img.Digest(); err == nil {
		v.ManifestDigest = d.String()
	}
	v.ConfigDigest = m.Config.Digest.String()
	t := newTree()
	dbs := &pkgDBs{}
	created := layerHistory(cf, len(m.Layers))
	for i, desc := range m.Layers {
		l := &Layer{Index: i, Digest: desc.Digest.String(), MediaType: string(desc.MediaType),
			Compressed: desc.Size, CreatedBy: created[i]}
		if i < len(cf.RootFS.DiffIDs) {
			l.DiffID = cf.RootFS.DiffIDs[i].String()
		}
		if err := scanLayer(ctx, img, desc, l, t, dbs, limits); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
		}
		v.Layers = append(v.Layers, l)
		v.Total.Add(l)
	}
	t.walk(func(name string, n *node) {
		v.Files++
		if r := match(rules, name); r != nil && n.size > 0 {
			t.waste = append(t.waste, wasteItem{kind: "rule", rule: r.Name, layer: n.layer, path: "/" + name, size: n.size})
		}
	})
	v.Efficiency = t.efficiency()
	v.findings = t.waste
	v.Waste = summarise(t.waste, v.Layers)
	v.Packages = dbs.final(t)
	v.Steps = historySteps(cf, v.Layers)
	return v, nil
}

// layerHistory returns the created_by of each layer's history entry.
func layerHistory(cf *v1.ConfigFile, n int) []string {
	out := make([]string, n)
	i := 0
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		if i < n {
			out[i] = cleanCreatedBy(h.CreatedBy)
		}
		i++
	}
	return out
}

func cleanCreatedBy(s string) string {
	s = strings.TrimSuffix(s, " # buildkit")
	s = strings.TrimPrefix(s, "/bin/sh -c #(nop) ")
	return strings.TrimSpace(s)
}

// historySteps makes one step per history entry of an analysed image.
func historySteps(cf *v1.ConfigFile, layers []*Layer) []*Step {
	var steps []*Step
	li := 0
	for _, h := range cf.History {
		s := &Step{Instruction: cleanCreatedBy(h.CreatedBy), Layer: -1}
		if !h.EmptyLayer && li < len(layers) {
			s.setLayer(layers[li])
			li++
		}
		steps = append(steps, s)
	}
	for ; li < len(layers); li++ { // layers without history
		s := &Step{Layer: -1}
		s.setLayer(layers[li])
		steps = append(steps, s)
	}
	return steps
}

func (s *Step) setLayer(l *Layer) {
	s.Layer, s.Compressed, s.Uncompressed, s.WasteBytes = l.Index, l.Compressed, l.Uncompressed, l.WasteBytes
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// scanLayer streams one layer: it counts compressed and uncompressed bytes
// and applies its entries to t.
func scanLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, l *Layer, t *fsTree, dbs *pkgDBs, limits []layer.Option) error {
	bl, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return err
	}
	rc, err := bl.Compressed()
	if err != nil {
		return fmt.Errorf("opening blob: %w", err)
	}
	defer rc.Close()
	cc := &counter{r: rc}
	dec, err := layer.Decompress(cc, limits...)
	if err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	defer dec.Close()
	uc := &counter{r: dec}
	if err := applyTar(ctx, tar.NewReader(uc), l, t, dbs); err != nil {
		return err
	}
	// The tar reader stops at the end-of-archive marker; the stream length
	// includes the padding after it.
	if _, err := io.Copy(io.Discard, uc); err != nil {
		return fmt.Errorf("reading tar stream: %w", err)
	}
	if _, err := io.Copy(io.Discard, cc); err != nil {
		return fmt.Errorf("reading blob: %w", err)
	}
	if cc.n != desc.Size {
		return fmt.Errorf("blob is %d bytes, the manifest says %d", cc.n, desc.Size)
	}
	l.Uncompressed = uc.n
	return nil
}

// applyTar applies each entry of one layer to t and counts its files.
func applyTar(ctx context.Context, tr *tar.Reader, l *Layer, t *fsTree, dbs *pkgDBs) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar stream: %w", err)
		}
		name := layer.CleanPath(hdr.Name) // "a/b/c", "" for the root
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			t.opaque(dir, l.Index)
			l.Deletes++
			continue
		case strings.HasPrefix(base, ".wh."):
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")), l.Index)
			l.Deletes++
			continue
		}
		isDir := hdr.Typeflag == tar.TypeDir
		size := int64(0)
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			size = hdr.Size
		}
		if !isDir {
			l.Files++
			l.FileBytes += size
		}
		sum, err := t.hash(tr, size, func(r io.Reader) error {
			if dbs.wants(name) {
				return dbs.read(name, l.Index, r, size)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading /%s: %w", name, err)
		}
		t.add(name, l.Index, isDir, size, sum)
	}
}

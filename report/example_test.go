package report_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ibuild/ibuild/report"
)

// layerOf is an uncompressed layer holding files (name, content) in order.
func layerOf(files ...[2]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

// ExampleAnalyze analyses an image whose second layer deletes a file the
// first one added: those bytes are waste, carried for nothing.
func ExampleAnalyze() {
	img := empty.Image
	for _, data := range [][]byte{
		layerOf([2]string{"app/big.bin", string(make([]byte, 4000))}, [2]string{"app/main", "binary"}),
		layerOf([2]string{"app/.wh.big.bin", ""}),
	} {
		l, err := tarball.LayerFromReader(bytes.NewReader(data))
		if err != nil {
			fmt.Println(err)
			return
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			fmt.Println(err)
			return
		}
	}
	v, err := report.Analyze(context.Background(), img, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("layers:", len(v.Layers), "files:", v.Files)
	fmt.Println("uncompressed bytes:", v.Total.Uncompressed)
	fmt.Println("waste bytes:", v.Waste.Bytes, "of which deleted later:", v.Waste.Shadowed)
	// Output:
	// layers: 2 files: 1
	// uncompressed bytes: 8192
	// waste bytes: 4000 of which deleted later: 4000
}

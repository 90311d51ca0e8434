package build_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
)

// ExampleBuild builds a one-file image into a fresh store. Builds are
// reproducible: the layer's diffID below is pinned, and a rebuild hits the
// step cache.
func ExampleBuild() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example-context-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)
	os.Chmod(filepath.Join(dir, "hello.txt"), 0o644) // whatever the umask
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /\nENV GREETING=hello\n"), 0o644)
	root, err := os.MkdirTemp("", "example-store-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(root)
	store, err := cache.Open(ctx, root)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	opt := build.Options{ContextDir: dir, Store: store, Tags: []string{"example.com/hello:1"}}
	res, err := build.Build(ctx, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("layer:", res.Layers[0].DiffID)
	fmt.Println("env:", cf.Config.Env)
	for _, s := range res.Steps {
		fmt.Printf("%s: %s cached=%v\n", s.Location, s.Instruction, s.Cached)
	}
	again, err := build.Build(ctx, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same image:", again.Manifest.Digest == res.Manifest.Digest, "cached:", again.Steps[1].Cached)
	// Output:
	// layer: sha256:194a4d6994ed531f07de3f850e7f0f4980df6bce3a19b56484253e5826b9d57a
	// env: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GREETING=hello]
	// Dockerfile:1: FROM scratch cached=true
	// Dockerfile:2: COPY hello.txt / cached=false
	// same image: true cached: true
}

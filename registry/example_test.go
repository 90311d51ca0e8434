package registry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ibuild/ibuild/registry"
)

// ExamplePush pushes an image to a registry on 127.0.0.1 (plain HTTP, as
// for every loopback host), resolves its tag and pulls it back.
func ExamplePush() {
	ctx := context.Background()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := mutate.Config(empty.Image, v1.Config{Cmd: []string{"/hello"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ref := host + "/example/hello:1"
	if err := registry.Push(ctx, img, ref, registry.WithJobs(2)); err != nil {
		fmt.Println(err)
		return
	}
	want, _ := img.Digest()
	got, err := registry.Digest(ctx, ref)
	if err != nil {
		fmt.Println(err)
		return
	}
	pulled, err := registry.Image(ctx, ref)
	if err != nil {
		fmt.Println(err)
		return
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("digest matches:", got == want)
	fmt.Println("cmd:", cf.Config.Cmd)
	fmt.Println("familiar name:", registry.FamiliarName("docker.io/library/busybox:latest"))
	// Output:
	// digest matches: true
	// cmd: [/hello]
	// familiar name: busybox:latest
}

// Command gobin is a small Go program the attest tests build and put in an
// image: its build info lists this module and go-containerregistry.
package main

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	r, err := name.ParseReference("debian")
	fmt.Println(r, err)
}

package parser_test

import (
	"errors"
	"fmt"

	"github.com/ibuild/ibuild/parser"
)

// ExampleParse parses a two-stage Dockerfile: BuildKit's typed stages,
// each command's lines, the chain of stages a target inherits (the target
// first, then its bases), and an error that names its line.
func ExampleParse() {
	src := []byte(`FROM busybox AS base
RUN echo hi > /greeting

FROM base AS app
COPY --from=base /greeting /copy
CMD ["cat", "/copy"]
`)
	d, err := parser.Parse("Dockerfile", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, st := range d.Stages {
		fmt.Printf("stage %d %q from %s at %s\n", i, st.Name, st.BaseName, d.StageLocation(i))
		for _, cmd := range st.Commands {
			fmt.Printf("  %s: %s\n", d.CommandLocation(cmd), cmd.Name())
		}
	}
	chain, err := d.TargetChain("app")
	fmt.Println("app inherits:", chain, err)

	_, err = parser.Parse("Dockerfile", []byte("FROM scratch\nCOPY\n"))
	var perr *parser.Error
	fmt.Println(errors.As(err, &perr), perr.Location)
	// Output:
	// stage 0 "base" from busybox at Dockerfile:1
	//   Dockerfile:2: RUN
	// stage 1 "app" from base at Dockerfile:4
	//   Dockerfile:5: COPY
	//   Dockerfile:6: CMD
	// app inherits: [1 0] <nil>
	// true Dockerfile:2
}

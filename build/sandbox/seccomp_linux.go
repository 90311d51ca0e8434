package sandbox

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/ibuild/ibuild/build/sandbox/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// seccompProfile is the runtime-spec profile of Spec.Seccomp for a command
// with docker's default capabilities; nil when unconfined.
func seccompProfile(opt string) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.Profile(opt, DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("--security-opt seccomp: %w", err)
	}
	return p, nil
}

// defaultFilter is docker's default profile compiled once per process.
var defaultFilter = sync.OnceValues(func() ([]byte, error) { return compileFilter("") })

// seccompFilter returns the BPF program of Spec.Seccomp encoded for the
// sandbox init (8 bytes per instruction), or nil when unconfined.
func seccompFilter(opt string) ([]byte, error) {
	if opt == "" {
		return defaultFilter()
	}
	return compileFilter(opt)
}

func compileFilter(opt string) ([]byte, error) {
	p, err := seccompProfile(opt)
	if err != nil || p == nil {
		return nil, err
	}
	prog, err := seccomp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("--security-opt seccomp: %w", err)
	}
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// installFilter installs a program encoded by seccompFilter on the
// calling thread.
func installFilter(b []byte) error {
	if len(b)%8 != 0 {
		return fmt.Errorf("seccomp filter of %d bytes is not a whole program", len(b))
	}
	prog := make([]bpf.RawInstruction, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	return seccomp.Install(prog)
}

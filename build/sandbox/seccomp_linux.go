package sandbox

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/ibuild/ibuild/build/sandbox/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
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
	var opts []seccomp.Option
	if !x32ABI() {
		opts = append(opts, seccomp.WithoutX32())
	}
	prog, err := seccomp.Compile(p, opts...)
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

// x32ABI reports whether the kernel runs x32 system calls (amd64 kernels
// built or booted without it answer ENOSYS to every one).
var x32ABI = sync.OnceValue(func() bool {
	if runtime.GOARCH != "amd64" {
		return false
	}
	const x32GetPID = 0x40000000 | 39
	_, _, e := unix.RawSyscall(x32GetPID, 0, 0, 0)
	return e != unix.ENOSYS
})

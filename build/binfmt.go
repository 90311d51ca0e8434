package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultBinfmtDir is where the kernel's binfmt_misc file system is
// mounted.
const DefaultBinfmtDir = "/proc/sys/fs/binfmt_misc"

// ErrNoEmulator is wrapped by CheckEmulator's error when a foreign
// platform's binaries cannot run here.
var ErrNoEmulator = errors.New("no emulator")

// emulator is the QEMU user-mode emulator of an architecture and the
// binfmt_misc magic and mask that recognise its ELF binaries (from QEMU's
// scripts/qemu-binfmt-conf.sh, as Debian's qemu-user-static registers them).
type emulator struct {
	arch  string // the platform architecture (GOARCH)
	qemu  string // QEMU's name: qemu-<qemu>-static, handler qemu-<qemu>
	magic string
	mask  string
}

var emulators = []emulator{
	{"arm64", "aarch64", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00`, `\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
	{"arm", "arm", `\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00`, `\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
	{"amd64", "x86_64", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00`, `\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
	{"ppc64le", "ppc64le", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00`, `\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00`},
	{"s390x", "s390x", `\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16`, `\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff`},
	{"riscv64", "riscv64", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00`, `\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
	{"mips64le", "mips64el", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00`, `\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
	{"loong64", "loongarch64", `\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01`, `\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`},
}

// emulatorFor returns the emulator of p's architecture.
func emulatorFor(p v1.Platform) (emulator, bool) {
	for _, e := range emulators {
		if e.arch == p.Architecture {
			return e, true
		}
	}
	return emulator{}, false
}

// nativePlatform says whether the host runs p's binaries itself: its own
// architecture, or 386 on amd64.
func nativePlatform(host, p v1.Platform) bool {
	if p.OS != host.OS {
		return false
	}
	return p.Architecture == host.Architecture || (host.Architecture == "amd64" && p.Architecture == "386")
}

// EmulatorStatus describes the binfmt_misc handler of one emulated
// architecture.
type EmulatorStatus struct {
	// Platform is the platform the handler runs ("linux/arm64").
	Platform string
	// Handler is the binfmt_misc entry name ("qemu-aarch64").
	Handler string
	// Native says this machine runs the platform's binaries itself.
	Native bool
	// Registered, Enabled and FixBinary describe the entry; Interpreter
	// is the emulator it runs.
	Registered, Enabled, FixBinary bool
	Interpreter                    string
}

// readHandler reads the binfmt_misc entry of e in dir.
func readHandler(dir string, e emulator) (EmulatorStatus, error) {
	st := EmulatorStatus{Platform: "linux/" + e.arch, Handler: "qemu-" + e.qemu}
	data, err := os.ReadFile(filepath.Join(dir, st.Handler))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Registered = true
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			st.Enabled = true
		case "interpreter":
			st.Interpreter = v
		case "flags:":
			st.FixBinary = strings.Contains(v, "F")
		}
	}
	return st, nil
}

// Emulators lists the binfmt_misc handlers in dir ("" is
// DefaultBinfmtDir) of the architectures ibuild can emulate.
func Emulators(dir string) ([]EmulatorStatus, error) {
	if dir == "" {
		dir = DefaultBinfmtDir
	}
	if err := checkBinfmtMounted(dir); err != nil {
		return nil, err
	}
	var out []EmulatorStatus
	for _, e := range emulators {
		st, err := readHandler(dir, e)
		if err != nil {
			return nil, err
		}
		st.Native = nativePlatform(hostPlatform(), v1Platform(e.arch))
		out = append(out, st)
	}
	return out, nil
}

func checkBinfmtMounted(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "status")); err != nil {
		return fmt.Errorf("binfmt_misc is not mounted at %s (mount it as root: mount -t binfmt_misc binfmt_misc %s): %w", dir, dir, ErrNoEmulator)
	}
	return nil
}

// registerHint says how to register the emulators.
const registerHint = "register QEMU's (Debian package qemu-user-static) with `ibuild binfmt --install` as root"

// CheckEmulator returns nil if binaries of platform p run on this machine:
// natively, or through a binfmt_misc handler in dir ("" is
// DefaultBinfmtDir) for QEMU's user-mode emulator that is enabled and has
// the fix-binary (F) flag, without which the emulator cannot be found once
// a RUN step's sandbox has changed its root. The error wraps ErrNoEmulator
// and says how to register one.
func CheckEmulator(dir string, p v1.Platform) error {
	if nativePlatform(hostPlatform(), p) {
		return nil
	}
	if dir == "" {
		dir = DefaultBinfmtDir
	}
	plat := platformString(p)
	e, ok := emulatorFor(p)
	if !ok {
		return fmt.Errorf("running %s binaries: ibuild knows no emulator for that architecture: %w", plat, ErrNoEmulator)
	}
	if _, err := os.Stat(filepath.Join(dir, "status")); err != nil {
		return fmt.Errorf("running %s binaries needs an emulator, but binfmt_misc is not mounted at %s; %s (it mounts binfmt_misc too): %w", plat, dir, registerHint, ErrNoEmulator)
	}
	st, err := readHandler(dir, e)
	switch {
	case err != nil:
		return fmt.Errorf("running %s binaries: reading binfmt_misc handler %s: %w", plat, st.Handler, err)
	case !st.Registered:
		return fmt.Errorf("running %s binaries needs an emulator: no binfmt_misc handler %s in %s; %s: %w", plat, st.Handler, dir, registerHint, ErrNoEmulator)
	case !st.Enabled:
		return fmt.Errorf("running %s binaries: binfmt_misc handler %s is disabled (echo 1 > %s): %w", plat, st.Handler, filepath.Join(dir, st.Handler), ErrNoEmulator)
	case !st.FixBinary:
		return fmt.Errorf("running %s binaries: binfmt_misc handler %s lacks the fix-binary (F) flag, so %s cannot be found inside a RUN step's root; remove it (echo -1 > %s) and %s: %w",
			plat, st.Handler, st.Interpreter, filepath.Join(dir, st.Handler), registerHint, ErrNoEmulator)
	}
	return nil
}

// v1Platform is linux/arch.
func v1Platform(arch string) v1.Platform { return v1.Platform{OS: "linux", Architecture: arch} }

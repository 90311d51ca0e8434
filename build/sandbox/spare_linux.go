package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initProc is a started sandbox init (this binary re-executed as
// initArg0) that waits for its childConfig.
type initProc struct {
	cmd        *exec.Cmd
	mode       string
	cfgW       *os.File // the childConfig goes here
	statR      *os.File // an error message, or EOF once the command was exec'd
	outR, errR *os.File // the command's stdout and stderr
	netP       *os.File // the builder's end of the net socket, until given to slirp
	slirp      *slirp   // serves the init's network namespace (NetworkDefault)
	done       chan error
}

// spare is one builtin init started ahead of time, so that the next step
// does not wait for the Go runtime and package initialisation of a fresh
// process (most of the fixed cost of a step). It holds no mount, cgroup or
// namespace but its own PID, UTS and IPC namespaces, dies with the builder
// (parent-death signal) and exits by itself after spareIdle. net is the
// same for NetworkDefault steps: it also has its own network namespace,
// with slirp4netns started on it (and stopped when it exits).
var spare struct {
	mu      sync.Mutex
	p, net  *initProc
	pending sync.WaitGroup // background Prewarm calls
}

// spareIdle is how long an unused spare init waits for a step.
const spareIdle = 60 * time.Second

// Prewarm starts a spare builtin init in the background, if none is
// waiting, for a step that may follow soon.
func Prewarm() { prewarm("") }

// PrewarmNetwork starts a spare builtin init for a NetworkDefault step,
// if none is waiting, with slirp4netns (Settings.Slirp4netns) on its
// network namespace. Errors are left to the step.
func PrewarmNetwork(slirp4netns string) {
	if bin, err := lookSlirp(slirp4netns); err == nil {
		prewarm(bin)
	}
}

// prewarm starts the spare for slirpBin ("": the one without a network
// of its own).
func prewarm(slirpBin string) {
	spare.mu.Lock()
	defer spare.mu.Unlock()
	slot := spareSlot(slirpBin)
	if *slot != nil {
		return
	}
	if p, err := startInit(modeBuiltin, slirpBin); err == nil {
		*slot = p
	}
}

// spareSlot is where the spare for slirpBin waits; spare.mu is held.
func spareSlot(slirpBin string) **initProc {
	if slirpBin != "" {
		return &spare.net
	}
	return &spare.p
}

// takeInit returns a started init for mode (in a network namespace served
// by slirpBin, if not ""): the spare if one is waiting, or a new one. For
// the builtin engine it then starts the next spare.
func takeInit(mode, slirpBin string) (*initProc, error) {
	if mode != modeBuiltin {
		return startInit(mode, slirpBin)
	}
	spare.mu.Lock()
	slot := spareSlot(slirpBin)
	p := *slot
	*slot = nil
	spare.mu.Unlock()
	if p != nil {
		select {
		case <-p.done: // it gave up waiting
			p.close()
			p = nil
		default:
		}
	}
	if p != nil && p.slirp != nil {
		if _, dead := p.slirp.exited(); dead || p.slirp.bin != slirpBin {
			_ = p.cmd.Process.Kill()
			<-p.done
			p.close()
			p = nil
		}
	}
	if slirpBin == "" {
		// The next default-network spare is started once this step's
		// command has exited (prewarmAfter): its slirp4netns's start-up
		// would compete with the step for the CPU.
		spare.pending.Add(1)
		go func() {
			defer spare.pending.Done()
			prewarm(slirpBin)
		}()
	}
	if p != nil {
		return p, nil
	}
	return startInit(mode, slirpBin)
}

// prewarmAfter starts the next spare for slirpBin in the background.
func prewarmAfter(mode, slirpBin string) {
	if mode != modeBuiltin || slirpBin == "" {
		return
	}
	spare.pending.Add(1)
	go func() {
		defer spare.pending.Done()
		prewarm(slirpBin)
	}()
}

// startInit starts an init. The builtin engine's init gets new PID, UTS
// and IPC namespaces and makes its own mount (and, for NetworkNone,
// network) namespace once it has its configuration, so that it sees the
// host's mounts as they are then; the OCI helper gets a new mount
// namespace. With slirpBin, either also gets a network namespace, and
// slirp4netns is started on it at once.
func startInit(mode, slirpBin string) (*initProc, error) {
	p := &initProc{mode: mode, done: make(chan error, 1)}
	// The child's ends of the pipes: closed here once it has started.
	var cfgR, statW, outW, errW, netC *os.File
	defer func() {
		for _, f := range []*os.File{cfgR, statW, outW, errW, netC} {
			if f != nil {
				f.Close()
			}
		}
	}()
	for _, pair := range []struct{ r, w **os.File }{{&cfgR, &p.cfgW}, {&p.statR, &statW}, {&p.outR, &outW}, {&p.errR, &errW}} {
		r, w, err := os.Pipe()
		if err != nil {
			p.close()
			return nil, err
		}
		*pair.r, *pair.w = r, w
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("starting sandbox: %w", err)
	}
	p.netP, netC = os.NewFile(uintptr(sp[0]), "net"), os.NewFile(uintptr(sp[1]), "net")
	flags := uintptr(unix.CLONE_NEWNS)
	if mode == modeBuiltin {
		flags = unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	}
	if slirpBin != "" {
		flags |= unix.CLONE_NEWNET
	}
	p.cmd = &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{initArg0},
		Env:         []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdout:      outW,
		Stderr:      errW,
		ExtraFiles:  []*os.File{cfgR, statW, netC},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL},
	}
	if err := p.cmd.Start(); err != nil {
		p.close()
		return nil, fmt.Errorf("starting sandbox: %w", err)
	}
	if slirpBin != "" {
		// slirp4netns writes its ready byte to the init: the builder
		// keeps no end of the socket, so that the init reads EOF if
		// slirp4netns dies.
		p.slirp, err = startSlirp(slirpBin, p.cmd.Process.Pid, p.netP)
		p.netP.Close()
		p.netP = nil
		if err != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
			p.close()
			return nil, err
		}
	}
	go func() {
		err := p.cmd.Wait()
		if p.slirp != nil {
			p.slirp.stopLater()
		}
		p.done <- err
	}()
	return p, nil
}

// copyOutput copies the command's output to stdout and stderr until the
// last writer is gone; the returned function waits for that, at most
// outputDelay after the init has exited, then closes the pipes.
func (p *initProc) copyOutput(stdout, stderr io.Writer) func() {
	var wg sync.WaitGroup
	for _, c := range []struct {
		r *os.File
		w io.Writer
	}{{p.outR, stdout}, {p.errR, stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(c.w, c.r)
		}()
	}
	return func() {
		copied := make(chan struct{})
		go func() { wg.Wait(); close(copied) }()
		select {
		case <-copied:
		case <-time.After(outputDelay):
		}
		p.close()
	}
}

// outputDelay bounds the wait for output after the init has exited (like
// exec.Cmd.WaitDelay): a process that escaped with the pipes open cannot
// hold the step.
const outputDelay = 5 * time.Second

// close releases the parent's ends of the pipes.
func (p *initProc) close() {
	for _, f := range []*os.File{p.cfgW, p.statR, p.outR, p.errR, p.netP} {
		if f != nil {
			f.Close()
		}
	}
}

// stopSpare kills the spare inits, if any, and waits for them (and their
// slirp4netns) to exit.
func stopSpare() {
	spare.pending.Wait()
	spare.mu.Lock()
	ps := []*initProc{spare.p, spare.net}
	spare.p, spare.net = nil, nil
	spare.mu.Unlock()
	for _, p := range ps {
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		p.close()
	}
	WaitHelpers()
}

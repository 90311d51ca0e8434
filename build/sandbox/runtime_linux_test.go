package sandbox

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRuntimeCrun checks that --isolation=oci with crun fails before the
// step with a message naming crun and runc (crun 1.8 refuses this host's
// hybrid cgroups and lacks runc's run --keep), not with crun's usage text.
func TestRuntimeCrun(t *testing.T) {
	crun, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun not installed (hack/apt-packages.txt lists it)")
	}
	s := newSpec(t, IsolationOCI, "echo ran > /ran")
	s.Runtime = crun
	_, _, err = run(t, s)
	if err == nil {
		t.Fatal("a step under crun succeeded; want a clear refusal")
	}
	msg := err.Error()
	for _, want := range []string{"crun", "is not supported", "use runc"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if hybridCgroups() && !strings.Contains(msg, "hybrid cgroup") {
		t.Errorf("error %q does not name the hybrid cgroup layout of this host", msg)
	}
	if strings.Contains(msg, "unrecognized option") {
		t.Errorf("error %q is crun's usage text", msg)
	}
}

// TestRuntimeRuncAccepted checks that the check lets runc through.
func TestRuntimeRuncAccepted(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed (hack/apt-packages.txt lists it)")
	}
	if err := checkRuntime(runc); err != nil {
		t.Errorf("checkRuntime(runc) = %v", err)
	}
}

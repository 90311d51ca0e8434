package build

import (
	"errors"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestRunNetwork(t *testing.T) {
	tests := []struct {
		build, flag string
		allow       bool
		want        string
		err         error
	}{
		{"", "", false, NetworkDefault, nil},
		{"", "--network=default", false, NetworkDefault, nil},
		{NetworkNone, "", false, NetworkNone, nil},
		{NetworkNone, "--network=default", false, NetworkNone, nil},
		{NetworkHost, "", false, NetworkHost, nil},
		{NetworkHost, "--network=none", false, NetworkNone, nil},
		{"", "--network=none", false, NetworkNone, nil},
		{"", "--network=host", false, "", errNetworkHost},
		{NetworkNone, "--network=host", false, "", errNetworkHost},
		{"", "--network=host", true, NetworkHost, nil},
		{NetworkHost, "--network=host", false, NetworkHost, nil},
	}
	for _, tc := range tests {
		t.Run(tc.build+" "+tc.flag, func(t *testing.T) {
			cmd, err := parseTrigger("RUN " + tc.flag + " true")
			if err != nil {
				t.Fatal(err)
			}
			b := &builder{opt: Options{Run: RunOptions{Network: tc.build, AllowNetworkHost: tc.allow}}}
			got, err := b.runNetwork(cmd.(*instructions.RunCommand))
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("runNetwork = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

package sandbox

import "testing"

func TestPrivateResolvConf(t *testing.T) {
	tests := []struct {
		name, host, want string
	}{
		{"empty", "", "nameserver 10.0.2.3\n"},
		{"systemd-resolved", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
			"nameserver 10.0.2.3\noptions edns0 trust-ad\nsearch lan\n"},
		{"reachable kept", "nameserver 10.255.255.53\n", "nameserver 10.255.255.53\n"},
		{"loopbacks become one forwarder", "nameserver 127.0.0.1\nnameserver 192.0.2.1\nnameserver 127.0.1.1\n",
			"nameserver 10.0.2.3\nnameserver 192.0.2.1\n"},
		{"ipv6 dropped", "nameserver ::1\nnameserver 2001:db8::1\nnameserver fe80::1%eth0\n", "nameserver 10.0.2.3\n"},
		{"ipv6 dropped, ipv4 kept", "nameserver 2001:db8::1\nnameserver 192.0.2.1\n", "nameserver 192.0.2.1\n"},
		{"mapped ipv4", "nameserver ::ffff:192.0.2.9\n", "nameserver 192.0.2.9\n"},
		{"comments and no final newline", "# generated\nnameserver 127.0.0.53", "# generated\nnameserver 10.0.2.3\n"},
		{"bad address dropped", "nameserver not-an-ip\n", "nameserver 10.0.2.3\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(privateResolvConf([]byte(tc.host))); got != tc.want {
				t.Errorf("privateResolvConf(%q) =\n%q, want\n%q", tc.host, got, tc.want)
			}
		})
	}
}

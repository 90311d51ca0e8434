// Command agentls lists the identities of the ssh-agent at $SSH_AUTH_SOCK
// (the comment of each key, one per line), speaking the agent protocol
// directly: the ssh mount tests build it statically and run it in a RUN
// step of an image that has no ssh client.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentls:", err)
		os.Exit(2)
	}
	defer c.Close()
	// SSH_AGENTC_REQUEST_IDENTITIES (11) in a length-prefixed message.
	if _, err := c.Write([]byte{0, 0, 0, 1, 11}); err != nil {
		fmt.Fprintln(os.Stderr, "agentls:", err)
		os.Exit(2)
	}
	var n uint32
	if err := binary.Read(c, binary.BigEndian, &n); err != nil || n > 1<<20 {
		fmt.Fprintln(os.Stderr, "agentls: bad answer", err)
		os.Exit(2)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(c, msg); err != nil || len(msg) < 5 || msg[0] != 12 {
		fmt.Fprintln(os.Stderr, "agentls: not an identities answer", err)
		os.Exit(2)
	}
	count := binary.BigEndian.Uint32(msg[1:5])
	rest := msg[5:]
	next := func() []byte {
		if len(rest) < 4 {
			return nil
		}
		l := binary.BigEndian.Uint32(rest[:4])
		if uint32(len(rest)-4) < l {
			return nil
		}
		s := rest[4 : 4+l]
		rest = rest[4+l:]
		return s
	}
	for range count {
		next() // key blob
		fmt.Println(string(next()))
	}
}

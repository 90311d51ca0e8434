package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir, making an extracted tree
// durable before it is renamed into place. One syncfs is far cheaper than an
// fsync per file of a large layer.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

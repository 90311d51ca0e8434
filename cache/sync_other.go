//go:build !linux

package cache

// syncFS is a no-op where syncfs(2) is unavailable; snapshots are a Linux
// feature.
func syncFS(string) error { return nil }

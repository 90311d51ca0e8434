package sandbox

import "golang.org/x/sys/unix"

// defaultMemoryLimit is min(8 GiB, 75% of RAM).
func defaultMemoryLimit() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return defaultMemoryCap
	}
	total := int64(si.Totalram) * int64(si.Unit)
	return min(int64(defaultMemoryCap), total/4*3)
}

// nofileLimit is the RLIMIT_NOFILE given to commands: maxNofile, or the
// builder's hard limit if that is lower (raising it needs CAP_SYS_RESOURCE).
func nofileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Max > maxNofile {
		return maxNofile
	}
	return rl.Max
}

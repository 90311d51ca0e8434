package layer

import (
	"archive/tar"
	"io/fs"
)

// FileHeader returns the tar header of a file described by fi, named name
// in the layer: its type (directory; regular file with its size; symlink
// to link; FIFO, character or block device with its numbers), its
// permission bits with setuid, setgid and sticky, its owner (0:0 where the
// platform does not say) and its modification time. It reports false for
// a socket or another type a layer cannot hold. The header is normalised
// when written through a TarWriter.
func FileHeader(fi fs.FileInfo, name, link string) (*tar.Header, bool) {
	uid, gid := FileOwner(fi)
	hdr := &tar.Header{Name: name, Mode: TarMode(fi.Mode()), Uid: uid, Gid: gid, ModTime: fi.ModTime()}
	m := fi.Mode()
	switch {
	case m.IsDir():
		hdr.Typeflag = tar.TypeDir
	case m.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	case m&fs.ModeSymlink != 0:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, link
	case m&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case m&fs.ModeCharDevice != 0:
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = deviceNumbers(fi)
	case m&fs.ModeDevice != 0:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = deviceNumbers(fi)
	default:
		return nil, false
	}
	return hdr, true
}

// TarMode turns the permission bits of m, with setuid, setgid and sticky,
// into a tar header's mode; other bits of m are ignored.
func TarMode(m fs.FileMode) int64 {
	out := int64(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

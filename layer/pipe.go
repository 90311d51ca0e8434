package layer

import (
	"bufio"
	"io"
)

// pipeBuf is the write buffer between a tar generator and its pipe.
const pipeBuf = 1 << 20

// Pipe runs gen on a goroutine of its own and returns the reading end of
// the tar stream it writes (through a TarWriter, WriteDir or
// WriteOverlayDiff); gen's error (or io.EOF) ends the stream. The caller
// closes the reader, which stops gen at its next write.
//
// gen writes through a 1 MiB buffer: a tar generator's writes are headers
// of 512 bytes and file content in 32 KiB pieces, and each io.Pipe write
// is a hand-off between goroutines. For a 1 GiB RUN layer that was some
// 60,000 hand-offs on the diff's critical path; now it is 1,000.
func Pipe(gen func(w io.Writer) error) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, pipeBuf)
		err := gen(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

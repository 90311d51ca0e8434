package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ibuild/ibuild/layer"
)

// archive is a tar of entries "name" (a file) or "name->target" (a
// symlink), as a foreign tool might write it.
func archive(entries ...[2]string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e[1]))}
		if e[1] == "" {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		tw.WriteHeader(hdr)
		tw.Write([]byte(e[1]))
	}
	tw.Close()
	return &buf
}

// ExampleRewrite places a foreign archive under a directory of a layer, as
// ADD does with a local archive, and compresses the result: the diffID is
// pinned, because the headers are normalised and times clamped.
// An entry that climbs out of the root is refused.
func ExampleRewrite() {
	epoch := time.Unix(0, 0).UTC()
	var tarStream bytes.Buffer
	tw := layer.NewTarWriter(&tarStream, layer.TarOptions{SourceDateEpoch: &epoch})
	err := layer.Rewrite(tw, archive([2]string{"./", ""}, [2]string{"./bin/", ""}, [2]string{"/bin/tool", "#!/bin/sh\n"}), "opt/app")
	if err != nil {
		fmt.Println(err)
		return
	}
	tw.Close()
	tr := tar.NewReader(bytes.NewReader(tarStream.Bytes()))
	for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
		fmt.Printf("%s %o\n", hdr.Name, hdr.Mode)
	}

	var blob bytes.Buffer
	info, err := layer.Compress(context.Background(), &blob, &tarStream, layer.Gzip, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("diffID:", info.DiffID)
	fmt.Println("media type:", info.MediaType)

	err = layer.Rewrite(layer.NewTarWriter(io.Discard, layer.TarOptions{}), archive([2]string{"../../etc/cron.d/job", "x"}), "opt/app")
	fmt.Println(err, errors.Is(err, layer.ErrInvalidEntry))
	// Output:
	// opt/app/bin/ 755
	// opt/app/bin/tool 644
	// diffID: sha256:927286cca2bd1d35dcfd63a5306ee09b9d9b18f15ccd533c1af8d5a0fc9a5555
	// media type: application/vnd.oci.image.layer.v1.tar+gzip
	// entry "../../etc/cron.d/job": path escapes the root: invalid layer entry true
}

// ExampleCleanPath shows the two policies of the one path cleaner: an
// image path a build computes is clamped at the root, a tar entry name
// that climbs out of it is refused.
func ExampleCleanPath() {
	fmt.Printf("%q\n", layer.CleanPath("/usr/../../etc//passwd"))
	fmt.Printf("%q\n", layer.CleanPath("/"))
	name, err := layer.CleanEntryName("./usr/bin/")
	fmt.Printf("%q %v\n", name, err)
	_, err = layer.CleanEntryName("usr/../../etc/passwd")
	fmt.Println(err)
	// Output:
	// "etc/passwd"
	// ""
	// "usr/bin" <nil>
	// path escapes the root: invalid layer entry
}

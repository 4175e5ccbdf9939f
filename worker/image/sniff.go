package image

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"kiln/worker/image/renderjob"
)

// sniff names the picture format from the first bytes of a file, or returns
// an error saying why the file cannot be a picture kiln reads. It runs at
// submit time, after InputLimits.CheckInput has vetted the path, so it only
// looks at magic numbers and never decodes.
func sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return "jpeg", nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png", nil
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp", nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif", nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "tiff", nil
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return "heif", nil
	}
	if f := renderjob.UntrustedFormat(head); f != "" {
		return "", fmt.Errorf("%s", renderjob.BlockedFormat(path, f))
	}
	return "", fmt.Errorf("%s is not a picture kiln reads (JPEG, PNG, WebP, GIF, TIFF, HEIF)", path)
}

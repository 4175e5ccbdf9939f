package renderjob

import (
	"bytes"
	"fmt"
)

// UntrustedFormat names the format of a picture whose libvips loader is
// one of those marked untrusted (not fuzzed, or parsing documents rather
// than pictures), from its first bytes; "" for any other. kiln says itself
// that such an input is blocked, rather than leave it to libvips: since
// 8.16 libvips skips blocked loaders while sniffing, so its own error
// ("buffer is not in a known format") no longer names the policy.
func UntrustedFormat(head []byte) string {
	if len(head) > 1024 {
		head = head[:1024]
	}
	text := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	switch {
	case bytes.HasPrefix(text, []byte("<svg")), bytes.HasPrefix(text, []byte("<?xml")) && bytes.Contains(text, []byte("<svg")):
		return "SVG"
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "PDF"
	case bytes.HasPrefix(head, []byte("%!PS")), bytes.HasPrefix(head, []byte{0xc5, 0xd0, 0xd3, 0xc6}):
		return "PostScript"
	case bytes.HasPrefix(head, []byte("SIMPLE  =")):
		return "FITS"
	case bytes.HasPrefix(head, []byte{0x76, 0x2f, 0x31, 0x01}):
		return "OpenEXR"
	case bytes.HasPrefix(head, []byte("MATLAB 5.0")):
		return "MATLAB"
	}
	return ""
}

// BlockedFormat is the refusal of an input in an untrusted format.
func BlockedFormat(input, format string) string {
	return fmt.Sprintf("%s is in %s format, whose libvips loader is untrusted: blocked by [images] allow_untrusted_loaders = false", input, format)
}

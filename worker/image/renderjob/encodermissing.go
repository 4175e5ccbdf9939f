package renderjob

import "fmt"

// EncoderMissing says that format cannot be written here, and what brings
// its encoder. A running kilnd keeps its answer, so it finds a newly
// installed encoder at a restart.
func EncoderMissing(format string, err error) string {
	msg := fmt.Sprintf("this host's libvips cannot write %s (encoding a test picture: %v)", formatName(format), err)
	if pkg := encoderPackage(format, hostRelease()); pkg.name != "" {
		return msg + fmt.Sprintf(": install the Debian package %s, %s (a running kilnd finds it at a restart)", pkg.name, pkg.brings)
	}
	return msg + ": install the libvips and libheif encoders of this system (a running kilnd finds them at a restart)"
}

func formatName(format string) string {
	switch format {
	case "jpeg":
		return "JPEG"
	case "png":
		return "PNG"
	case "webp":
		return "WebP"
	case "avif":
		return "AVIF"
	}
	return format
}

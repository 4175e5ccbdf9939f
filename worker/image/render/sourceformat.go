package render

import "strings"

// sourceFormat is the output format that keeps a source's format, for
// variants that name none. Formats kiln does not write become PNG, which
// loses nothing.
func sourceFormat(loader string) string {
	l := strings.ToLower(loader) // e.g. VipsForeignLoadJpegBuffer
	switch {
	case strings.Contains(l, "jpeg"):
		return "jpeg"
	case strings.Contains(l, "webp"):
		return "webp"
	case strings.Contains(l, "heif"):
		return "avif"
	}
	return "png"
}

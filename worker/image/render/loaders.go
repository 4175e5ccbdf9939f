package render

import "strings"

// loaderFormats name the formats of libvips' untrusted loaders, by the
// start of the loader's nickname.
var loaderFormats = map[string]string{
	"svg": "SVG", "pdf": "PDF", "magick": "ImageMagick", "openslide": "OpenSlide", "fits": "FITS",
	"openexr": "OpenEXR", "matrix": "matrix", "mat": "MATLAB", "csv": "CSV", "analyze": "Analyze",
	"raw": "raw", "vips": "VIPS", "ppm": "PPM", "rad": "Radiance", "jxl": "JPEG XL",
}

// loaderFormat names the format a libvips loader (its nickname, such as
// "svgload_buffer") reads.
func loaderFormat(nickname string) string {
	prefix, _, _ := strings.Cut(nickname, "load")
	if name, ok := loaderFormats[prefix]; ok {
		return name
	}
	return strings.ToUpper(prefix)
}

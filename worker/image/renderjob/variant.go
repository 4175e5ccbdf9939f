package renderjob

// Formats are the output formats a variant may ask for.
var Formats = []string{"jpeg", "png", "webp", "avif"}

// Variant is one output of a pipeline.
type Variant struct {
	Name         string  `toml:"name" json:"name"`       // also the output file's base name
	Width        int     `toml:"width" json:"width"`     // 0 = follow height
	Height       int     `toml:"height" json:"height"`   // 0 = follow width
	Fit          string  `toml:"fit" json:"fit"`         // inside (default) | cover | exact
	Gravity      string  `toml:"gravity" json:"gravity"` // for cover; default centre
	Effect       string  `toml:"effect" json:"effect"`   // "" | grayscale | sepia
	Blur         float64 `toml:"blur" json:"blur"`       // gaussian sigma; 0 = off
	Sharpen      bool    `toml:"sharpen" json:"sharpen"`
	Format       string  `toml:"format" json:"format"`   // jpeg | png | webp | avif; "" = the source's
	Quality      int     `toml:"quality" json:"quality"` // 1..100; 0 = the format's default
	Progressive  bool    `toml:"progressive" json:"progressive"`
	Compression  *int    `toml:"compression" json:"compression,omitempty"` // png, 0..9
	Lossless     bool    `toml:"lossless" json:"lossless"`                 // webp
	Enlarge      bool    `toml:"enlarge" json:"enlarge"`
	KeepMetadata bool    `toml:"keep_metadata" json:"keep_metadata"`
}

// Extension is the file extension of a variant written in format.
func Extension(format string) string {
	if format == "jpeg" {
		return "jpg"
	}
	return format
}

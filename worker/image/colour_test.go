package image

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// adobeRGB is the wide-gamut profile Debian's colord-data ships.
const adobeRGB = "/usr/share/color/icc/colord/AdobeRGB1998.icc"

// patches is an sRGB test card: saturated and muted colour patches, skin
// tones and grays, each 50x50, on a 300x200 picture.
func patches() image.Image {
	colours := []color.RGBA{
		{220, 30, 30, 255}, {30, 180, 40, 255}, {30, 60, 210, 255}, {240, 200, 20, 255}, {200, 40, 200, 255}, {20, 190, 200, 255},
		{230, 180, 150, 255}, {150, 100, 70, 255}, {90, 60, 40, 255}, {120, 140, 90, 255}, {170, 150, 200, 255}, {250, 120, 30, 255},
		{20, 20, 20, 255}, {70, 70, 70, 255}, {128, 128, 128, 255}, {190, 190, 190, 255}, {240, 240, 240, 255}, {100, 30, 60, 255},
		{40, 90, 130, 255}, {180, 220, 120, 255}, {250, 160, 190, 255}, {60, 120, 60, 255}, {200, 120, 100, 255}, {110, 110, 160, 255},
	}
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i, c := range colours {
		x0, y0 := (i%6)*50, (i/6)*50
		for y := y0; y < y0+50; y++ {
			for x := x0; x < x0+50; x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

// lab converts an 8-bit sRGB colour to CIE L*a*b* (D65).
func lab(c color.Color) [3]float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v>>8) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	R, G, B := lin(r), lin(g), lin(b)
	x := (0.4124*R + 0.3576*G + 0.1805*B) / 0.95047
	y := 0.2126*R + 0.7152*G + 0.0722*B
	z := (0.0193*R + 0.1192*G + 0.9505*B) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// meanDeltaE is the mean CIE76 colour difference of two same-sized
// pictures, read as sRGB.
func meanDeltaE(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes differ: %v and %v", a.Bounds().Size(), b.Bounds().Size())
	}
	var sum float64
	ab, bb := a.Bounds(), b.Bounds()
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			p, q := lab(a.At(ab.Min.X+x, ab.Min.Y+y)), lab(b.At(bb.Min.X+x, bb.Min.Y+y))
			sum += math.Sqrt((p[0]-q[0])*(p[0]-q[0]) + (p[1]-q[1])*(p[1]-q[1]) + (p[2]-q[2])*(p[2]-q[2]))
		}
	}
	return sum / float64(ab.Dx()*ab.Dy())
}

func vipsCLI(t *testing.T, args ...string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("vips", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vips %v: %v: %s (apt-get install libvips-tools)", args, err, stderr.String())
	}
}

// TestWideGamutInputConvertsToSRGB renders an Adobe RGB (1998) JPEG, as
// cameras set to Adobe RGB write them, and compares each output with
// libvips' own conversion of the same file to sRGB through its embedded
// profile: the mean colour difference must stay under 2 (CIE76), at full
// size (converted from the full decode) and at half size (converted after
// libjpeg's shrink-on-load). The input's own pixels, read as if they were
// sRGB, are checked to be far from the reference, so that a missing
// conversion cannot pass.
func TestWideGamutInputConvertsToSRGB(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(adobeRGB); err != nil {
		t.Fatalf("%v (apt-get install colord-data)", err)
	}
	b := setup(t,
		Variant{Name: "full", Width: 300, Format: "png"},
		Variant{Name: "half", Width: 150, Format: "png"},
		Variant{Name: "half-jpeg", Width: 150, Format: "jpeg", Quality: 95})
	var src bytes.Buffer
	if err := png.Encode(&src, patches()); err != nil {
		t.Fatal(err)
	}
	srgbIn := write(t, b.dir, "card.png", src.Bytes())
	wide := filepath.Join(b.dir, "wide.jpg")
	vipsCLI(t, "icc_transform", srgbIn, wide+"[Q=95]", adobeRGB)

	refFull := filepath.Join(b.dir, "ref-full.png")
	vipsCLI(t, "icc_transform", wide, refFull, "srgb", "--embedded")
	refHalf := filepath.Join(b.dir, "ref-half.png")
	vipsCLI(t, "thumbnail", wide, refHalf, "150", "--export-profile", "srgb")

	raw := decodeJPEG(t, wide) // Go's decoder ignores the profile
	if d := meanDeltaE(t, raw, decodePNG(t, refFull)); d < 5 {
		t.Fatalf("the Adobe RGB input read as sRGB is only %.2f from the reference: the test cannot tell a conversion from none", d)
	}
	out := b.mustRun(t, wide)
	for _, c := range []struct {
		variant, ref string
		png          bool
	}{{"full", refFull, true}, {"half", refHalf, true}, {"half-jpeg", refHalf, false}} {
		var got image.Image
		if c.png {
			got = decodePNG(t, out[c.variant].Path)
		} else {
			got = decodeJPEG(t, out[c.variant].Path)
		}
		d := meanDeltaE(t, got, decodePNG(t, c.ref))
		t.Logf("%s: mean ΔE %.2f against libvips' conversion", c.variant, d)
		if d >= 2 {
			t.Errorf("%s: mean ΔE %.2f against libvips' conversion to sRGB, want < 2", c.variant, d)
		}
	}
}

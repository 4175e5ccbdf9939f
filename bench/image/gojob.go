package main

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

// goCatmullRom does the standard job in pure Go: image/jpeg to decode,
// x/image/draw's CatmullRom to resize, per-pixel gray and sepia. Go has no
// WebP encoder, so that output is a PNG; and no attention crop, so the
// thumbnail is centre-cropped.
func goCatmullRom(src, out string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	img, err := jpeg.Decode(f)
	f.Close()
	if err != nil {
		return err
	}
	scale := func(img image.Image, w int) *image.RGBA {
		b := img.Bounds()
		h := b.Dy() * w / b.Dx()
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		return dst
	}
	save := func(name string, img image.Image) error {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return err
		}
		defer f.Close()
		if filepath.Ext(name) == ".png" {
			return png.Encode(f, img)
		}
		return jpeg.Encode(f, img, &jpeg.Options{Quality: 85})
	}
	w1600 := scale(img, 1600)
	if err := save("w1600.jpg", w1600); err != nil {
		return err
	}
	w800 := scale(img, 800)
	if err := save("w800.jpg", w800); err != nil {
		return err
	}
	if err := save("w800-webp.png", w800); err != nil {
		return err
	}
	b := w800.Bounds()
	gray := image.NewGray(b)
	sepia := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := w800.RGBAAt(x, y)
			r, g, bl := float64(c.R), float64(c.G), float64(c.B)
			gray.SetGray(x, y, color.Gray{uint8(0.299*r + 0.587*g + 0.114*bl)})
			clamp := func(v float64) uint8 { return uint8(min(v, 255)) }
			sepia.SetRGBA(x, y, color.RGBA{clamp(0.393*r + 0.769*g + 0.189*bl), clamp(0.349*r + 0.686*g + 0.168*bl), clamp(0.272*r + 0.534*g + 0.131*bl), 255})
		}
	}
	if err := save("w800-gray.jpg", gray); err != nil {
		return err
	}
	if err := save("w800-sepia.jpg", sepia); err != nil {
		return err
	}
	sb := img.Bounds()
	side := min(sb.Dx(), sb.Dy())
	square := image.Rect((sb.Dx()-side)/2, (sb.Dy()-side)/2, (sb.Dx()+side)/2, (sb.Dy()+side)/2)
	thumb := image.NewRGBA(image.Rect(0, 0, 200, 200))
	draw.CatmullRom.Scale(thumb, thumb.Bounds(), img, square, draw.Src, nil)
	return save("thumb.jpg", thumb)
}

package main

import (
	"context"
	"os"
	"time"

	"kiln/worker/image/vips"
)

// floorJob is the least any libvips job can do: one shrink-on-load decode
// of the source and the six encodes. The resizes, crop and effects that
// make the six pictures are done outside the timed part.
func floorJob(ctx context.Context, src string) (time.Duration, error) {
	if err := vips.Start(false); err != nil {
		return 0, err
	}
	buf, err := os.ReadFile(src)
	if err != nil {
		return 0, err
	}
	t := time.Now()
	base, err := vips.Thumbnail(buf, 1600, 1200, false)
	if err != nil {
		return 0, err
	}
	decode := time.Since(t)
	defer base.Close()

	w800, err := base.Resize(0.5, 0.5)
	if err != nil {
		return 0, err
	}
	defer w800.Close()
	thumbScaled, err := base.Resize(200.0/1200, 200.0/1200)
	if err != nil {
		return 0, err
	}
	defer thumbScaled.Close()
	thumb, err := thumbScaled.SmartCrop(200, 200, vips.InterestAttention)
	if err != nil {
		return 0, err
	}
	defer thumb.Close()
	gray, err := w800.Grayscale()
	if err != nil {
		return 0, err
	}
	defer gray.Close()
	sepia, err := w800.Sepia()
	if err != nil {
		return 0, err
	}
	defer sepia.Close()
	encodes := []struct {
		img  *vips.Image
		opts vips.EncodeOptions
	}{
		{base, vips.EncodeOptions{Format: "jpeg", Quality: 85}},
		{w800, vips.EncodeOptions{Format: "jpeg", Quality: 85}},
		{w800, vips.EncodeOptions{Format: "webp", Quality: 80}},
		{thumb, vips.EncodeOptions{Format: "jpeg", Quality: 85}},
		{gray, vips.EncodeOptions{Format: "jpeg", Quality: 85}},
		{sepia, vips.EncodeOptions{Format: "jpeg", Quality: 85}},
	}
	t = time.Now()
	for _, e := range encodes {
		if _, err := e.img.Encode(e.opts); err != nil {
			return 0, err
		}
	}
	return decode + time.Since(t), nil
}

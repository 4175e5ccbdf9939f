package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"kiln/bench/image/imagejob"
	kimage "kiln/worker/image"
)

// benchQuality has one kiln worker (the one kilnd would start, its real
// protocol) render a picture and compares every output with the best a
// resize can do from it: the full decode, no shrink-on-load, one Lanczos-3
// resize straight to the output's size, not encoded. A cropped output is
// compared with vips_thumbnail's crop of the same box. It returns one
// key=value field per output: bytes and PSNR in dB (higher is closer).
func benchQuality(kilnd, job, picture, dir string) (string, error) {
	worker, err := kimage.FindWorker(kilnd)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(worker)
	cmd.Env = append(os.Environ(), "VIPS_CONCURRENCY=1", "MALLOC_ARENA_MAX=2", "G_SLICE=always-malloc")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start image worker %s: %w", worker, err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	limits := kimage.DefaultImagesConfig().InputLimits
	limits.AllowedInputRoots = []string{filepath.Dir(picture)}
	// One CPU, said in the request: the worker then asks nothing.
	var variants []kimage.Variant
	for _, v := range imagejob.Jobs[job] {
		variants = append(variants, kimage.Variant{Name: v.Name, Width: v.Width, Height: v.Height, Fit: v.Fit, Gravity: v.Gravity, Effect: v.Effect, Format: v.Format, Quality: v.Quality})
	}
	req := kimage.RenderRequest{Input: picture, OutDir: filepath.Join(dir, "quality"), Variants: variants, Limits: limits, CPUs: 1}
	if err := json.NewEncoder(in).Encode(req); err != nil {
		return "", err
	}
	var ans struct {
		Result *kimage.Result      `json:"result"`
		Error  *kimage.RenderError `json:"error"`
	}
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&ans); err != nil {
		return "", fmt.Errorf("worker answer: %w", err)
	}
	if ans.Error != nil {
		return "", ans.Error
	}
	src, err := os.ReadFile(picture)
	if err != nil {
		return "", err
	}
	var fields []string
	for i, o := range ans.Result.Outputs {
		v := imagejob.Jobs[job][i]
		data, err := os.ReadFile(o.Path)
		if err != nil {
			return "", err
		}
		got, err := loadAny(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", o.Path, err)
		}
		var ref *vimage
		if v.Fit == "cover" {
			ref, err = thumbnail(src, v.Width, v.Height, v.Gravity == "attention", false)
		} else {
			ref, err = reference(src, o.Width, o.Height)
		}
		if err == nil && v.Effect != "" {
			plain := ref
			if v.Effect == "grayscale" {
				ref, err = plain.gray()
			} else {
				ref, err = plain.sepia()
			}
			plain.close()
		}
		if err != nil {
			got.close()
			return "", err
		}
		db, err := psnr(got, ref)
		got.close()
		ref.close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", o.Variant, err)
		}
		fields = append(fields, fmt.Sprintf("%s_bytes=%d %s_psnr_db=%.2f", o.Variant, o.Bytes, o.Variant, db))
	}
	return strings.Join(fields, " "), nil
}

func psnr(a, b *vimage) (float64, error) {
	if a.width() != b.width() || a.height() != b.height() {
		return 0, fmt.Errorf("%dx%d against a %dx%d reference", a.width(), a.height(), b.width(), b.height())
	}
	pa, na, err := a.pixels()
	if err != nil {
		return 0, err
	}
	pb, nb, err := b.pixels()
	if err != nil {
		return 0, err
	}
	if na != nb || len(pa) != len(pb) {
		return 0, fmt.Errorf("%d bands against %d", na, nb)
	}
	var sum float64
	for i := range pa {
		d := float64(pa[i]) - float64(pb[i])
		sum += d * d
	}
	mse := sum / float64(len(pa))
	if mse == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(255*255/mse), nil
}

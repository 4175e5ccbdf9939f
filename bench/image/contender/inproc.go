package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"syscall"
	"time"

	"kiln/bench/image/imagejob"
	"kiln/worker/image/vips"
)

// The floor and the per-output contender run in a process of their own
// (this program, which bench-image starts), so that their CPU time and
// peak memory are theirs alone.

func runInproc(mode, jobName string, pictures []string) error {
	if err := vipsInit(); err != nil {
		return err
	}
	variants := imagejob.Jobs[jobName]
	// Pictures are read as they are done, so that the process holds one
	// or two of them at a time, as a server would.
	var pic func(buf []byte) error
	one := func(path string) error {
		buf, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return pic(buf)
	}
	bufs := pictures
	switch mode {
	case "floor":
		pic = func(buf []byte) error { return floorPicture(buf, variants) }
	case "per-output-idle":
		pic = func(buf []byte) error { return perOutputPicture(buf, variants, true) }
	case "per-output":
		pic = func(buf []byte) error { return perOutputPicture(buf, variants, false) }
	default:
		return fmt.Errorf("unknown -inproc mode %q", mode)
	}
	// warm up: the first picture also starts libvips
	if err := one(bufs[0]); err != nil {
		return err
	}
	var res imagejob.InprocResult
	cpu0 := selfCPU()
	t0 := time.Now()
	if mode == "per-output" {
		// throughput: two pictures at once, one per core
		next := make(chan string)
		errs := make(chan error, len(bufs))
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range next {
					if err := one(b); err != nil {
						errs <- err
					}
				}
			}()
		}
		for _, b := range bufs {
			next <- b
		}
		close(next)
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
	} else {
		var times []time.Duration
		for _, b := range bufs {
			t := time.Now()
			if err := one(b); err != nil {
				return err
			}
			times = append(times, time.Since(t))
		}
		res.P50, res.P90 = imagejob.Percentile(times, 50), imagejob.Percentile(times, 90)
	}
	wall := time.Since(t0)
	res.PicturesPerS = float64(len(bufs)) / wall.Seconds()
	res.CPUMs = float64(selfCPU()-cpu0) / float64(time.Millisecond) / float64(len(bufs))
	res.PeakRSSMiB = float64(imagejob.HWM(os.Getpid())) / (1 << 20)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleOf is the part of the source a variant needs.
func scaleOf(v imagejob.Variant, w, h int) float64 {
	if v.Fit == "cover" {
		return math.Max(float64(v.Width)/float64(w), float64(v.Height)/float64(h))
	}
	s := float64(v.Width) / float64(w)
	if v.Height > 0 {
		s = math.Min(s, float64(v.Height)/float64(h))
	}
	return s
}

// floorPicture is the least a libvips job can do for these outputs: one
// decode, shrinking on load as far as the largest output allows and
// resizing to it, then each smaller size resized from that once, the
// effects and the encodes; one thread, nothing written.
func floorPicture(buf []byte, variants []imagejob.Variant) error {
	hdr, err := vips.ReadHeader(buf)
	if err != nil {
		return err
	}
	top := 0.0
	for _, v := range variants {
		top = math.Max(top, scaleOf(v, hdr.Width, hdr.Height))
	}
	shrink := 1
	for _, k := range []int{8, 4, 2} {
		if 1/float64(k) >= top {
			shrink = k
			break
		}
	}
	dec, err := loadShrink(buf, shrink)
	if err != nil {
		return err
	}
	defer dec.close()
	base := dec
	if s := top * float64(hdr.Width) / float64(dec.width()); math.Abs(s-1) > 1e-9 {
		r, err := dec.resize(s)
		if err != nil {
			return err
		}
		defer r.close()
		if base, err = r.memory(); err != nil {
			return err
		}
		defer base.close()
	}
	sized := map[[2]int]*vimage{}
	defer func() {
		for _, im := range sized {
			if im != base {
				im.close()
			}
		}
	}()
	for _, v := range variants {
		s := scaleOf(v, hdr.Width, hdr.Height) / top
		key := [2]int{int(math.Round(s * 1e6)), v.Height}
		im, ok := sized[key]
		if !ok {
			im = base
			if math.Abs(s-1) > 1e-9 {
				r, err := base.resize(s)
				if err != nil {
					return err
				}
				defer r.close()
				if v.Fit == "cover" {
					// smartcrop reads its input several times over
					m, err := r.memory()
					if err != nil {
						return err
					}
					defer m.close()
					c, err := m.smartcrop(v.Width, v.Height)
					if err != nil {
						return err
					}
					defer c.close()
					r = c
				}
				if im, err = r.memory(); err != nil {
					return err
				}
			}
			sized[key] = im
		}
		if err := encodeVariant(im, v); err != nil {
			return err
		}
	}
	return nil
}

// encodeVariant applies a variant's effect and encodes it.
func encodeVariant(im *vimage, v imagejob.Variant) error {
	var err error
	switch v.Effect {
	case "grayscale":
		if im, err = im.gray(); err != nil {
			return err
		}
		defer im.close()
	case "sepia":
		if im, err = im.sepia(); err != nil {
			return err
		}
		defer im.close()
	}
	return im.save(v.Format, v.Quality)
}

// perOutputPicture is how image servers work: every output is its own
// request that decodes the source again with vips_thumbnail. With
// atOnce, all outputs of the picture run at the same time, as when a page
// asks for them together.
func perOutputPicture(buf []byte, variants []imagejob.Variant, atOnce bool) error {
	hdr, err := vips.ReadHeader(buf)
	if err != nil {
		return err
	}
	do := func(v imagejob.Variant) error {
		h := v.Height
		if h == 0 {
			h = 10_000_000
		}
		im, err := thumbnail(buf, v.Width, h, v.Fit == "cover" && v.Gravity == "attention", hdr.ICC)
		if err != nil {
			return err
		}
		defer im.close()
		return encodeVariant(im, v)
	}
	if !atOnce {
		for _, v := range variants {
			if err := do(v); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(variants))
	for _, v := range variants {
		go func() { errs <- do(v) }()
	}
	var first error
	for range variants {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

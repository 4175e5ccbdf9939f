// Package vips is kiln's own small cgo layer over libvips: just the calls the
// image job needs (shrink-on-load, keeping a decoded picture in memory to
// derive many variants from it, resize, encode), with libvips' own error
// text and no logging of its own.
package vips

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <vips/vips.h>

static int kiln_init(void) {
	if (VIPS_INIT("kilnd")) return -1;
	vips_cache_set_max(0); // every job reads a different file
	return 0;
}

static VipsImage *kiln_header(const void *buf, size_t len) {
	return vips_image_new_from_buffer(buf, len, "", NULL);
}

static int kiln_orientation(VipsImage *im) {
	int o = 1;
	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION)) {
		vips_image_get_int(im, VIPS_META_ORIENTATION, &o);
	}
	return o;
}

// kiln_thumbnail decodes with shrink-on-load to fit width x height, never
// enlarging, applies the EXIF orientation, and keeps the result in memory
// so that many variants can be read from it.
static VipsImage *kiln_thumbnail(const void *buf, size_t len, int width, int height) {
	VipsImage *t = NULL;
	if (vips_thumbnail_buffer((void *)buf, len, &t, width, "height", height, "size", VIPS_SIZE_DOWN, NULL)) return NULL;
	VipsImage *m = vips_image_copy_memory(t);
	g_object_unref(t);
	return m;
}

static VipsImage *kiln_resize(VipsImage *in, double scale) {
	VipsImage *out = NULL;
	if (vips_resize(in, &out, scale, "kernel", VIPS_KERNEL_LANCZOS3, NULL)) return NULL;
	return out;
}

static int kiln_save_jpeg(VipsImage *in, void **buf, size_t *len, int q) {
	return vips_jpegsave_buffer(in, buf, len, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL);
}
static int kiln_save_webp(VipsImage *in, void **buf, size_t *len, int q) {
	return vips_webpsave_buffer(in, buf, len, "Q", q, "strip", TRUE, NULL);
}
static int kiln_save_png(VipsImage *in, void **buf, size_t *len) {
	return vips_pngsave_buffer(in, buf, len, "strip", TRUE, NULL);
}

static void kiln_unref(VipsImage *im) { g_object_unref(im); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

var (
	initOnce sync.Once
	initErr  error
)

// Start initialises libvips once per process.
func Start() error {
	initOnce.Do(func() {
		if C.kiln_init() != 0 {
			initErr = fmt.Errorf("start libvips: %s", lastError())
		}
	})
	return initErr
}

// lastError takes libvips' error text. libvips keeps one buffer per
// process, so under concurrency a message may carry another job's line too;
// it is still the decoder's own words.
func lastError() string {
	msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
	C.vips_error_clear()
	msg = strings.ReplaceAll(msg, "\n", "; ")
	if msg == "" {
		msg = "unknown libvips error"
	}
	return msg
}

// Image is a decoded picture held by libvips.
type Image struct {
	im *C.VipsImage
}

// Close frees the picture.
func (i *Image) Close() {
	if i.im != nil {
		C.kiln_unref(i.im)
		i.im = nil
	}
}

// Width is the picture's width in pixels.
func (i *Image) Width() int { return int(i.im.Xsize) }

// Height is the picture's height in pixels.
func (i *Image) Height() int { return int(i.im.Ysize) }

// Header reads only the header of an encoded picture: its size, and its
// EXIF orientation (1..8), without decoding pixels.
func Header(buf []byte) (width, height, orientation int, err error) {
	if len(buf) == 0 {
		return 0, 0, 0, errors.New("empty file")
	}
	im := C.kiln_header(unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	runtime.KeepAlive(buf)
	if im == nil {
		return 0, 0, 0, errors.New(lastError())
	}
	defer C.kiln_unref(im)
	return int(im.Xsize), int(im.Ysize), int(C.kiln_orientation(im)), nil
}

// Thumbnail decodes buf once, shrinking on load to fit inside width x height
// (never enlarging) and turning it upright, and keeps the result in memory.
func Thumbnail(buf []byte, width, height int) (*Image, error) {
	if len(buf) == 0 {
		return nil, errors.New("empty file")
	}
	im := C.kiln_thumbnail(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), C.int(width), C.int(height))
	runtime.KeepAlive(buf)
	if im == nil {
		return nil, errors.New(lastError())
	}
	return &Image{im: im}, nil
}

// Resize returns a new picture scaled by scale.
func (i *Image) Resize(scale float64) (*Image, error) {
	out := C.kiln_resize(i.im, C.double(scale))
	if out == nil {
		return nil, errors.New(lastError())
	}
	return &Image{im: out}, nil
}

// Encode writes the picture as jpeg, png or webp, without metadata.
// quality 0 means the format's default.
func (i *Image) Encode(format string, quality int) ([]byte, error) {
	if quality <= 0 {
		quality = 80
	}
	var (
		buf unsafe.Pointer
		n   C.size_t
		rc  C.int
	)
	switch format {
	case "jpeg":
		rc = C.kiln_save_jpeg(i.im, &buf, &n, C.int(quality))
	case "webp":
		rc = C.kiln_save_webp(i.im, &buf, &n, C.int(quality))
	case "png":
		rc = C.kiln_save_png(i.im, &buf, &n)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	if rc != 0 {
		return nil, errors.New(lastError())
	}
	defer C.g_free(C.gpointer(buf))
	return C.GoBytes(buf, C.int(n)), nil
}

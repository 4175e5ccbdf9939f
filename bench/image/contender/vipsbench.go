package main

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <vips/vips.h>

static void bench_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {}

static int bench_init(void) {
	if (VIPS_INIT("bench-image")) return -1;
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, bench_quiet, NULL);
	vips_cache_set_max(0);
	return 0;
}

// bench_load decodes a JPEG with libjpeg's shrink-on-load (1, 2, 4 or 8)
// into memory.
static VipsImage *bench_load(const void *buf, size_t len, int shrink) {
	VipsImage *t = NULL;
	if (vips_jpegload_buffer((void *)buf, len, &t, "shrink", shrink, "access", VIPS_ACCESS_SEQUENTIAL, NULL)) return NULL;
	VipsImage *m = vips_image_copy_memory(t);
	g_object_unref(t);
	return m;
}

// bench_thumbnail is what an image server does per output: one
// vips_thumbnail decode (libvips picks the shrink-on-load), cropped to the
// box with attention if asked, converted to sRGB if the picture carries a
// profile (as imgproxy and sharp do; an untagged picture is sRGB already).
static VipsImage *bench_thumbnail(const void *buf, size_t len, int width, int height, int attention, int to_srgb) {
	VipsImage *t = NULL;
	if (vips_thumbnail_buffer((void *)buf, len, &t, width, "height", height,
			"size", VIPS_SIZE_DOWN, "crop", attention ? VIPS_INTERESTING_ATTENTION : VIPS_INTERESTING_NONE,
			"export_profile", to_srgb ? "srgb" : NULL, NULL)) return NULL;
	return t;
}

static VipsImage *bench_resize(VipsImage *in, double scale) {
	VipsImage *out = NULL;
	if (vips_resize(in, &out, scale, "kernel", VIPS_KERNEL_LANCZOS3, NULL)) return NULL;
	return out;
}

static VipsImage *bench_smartcrop(VipsImage *in, int w, int h) {
	VipsImage *out = NULL;
	if (vips_smartcrop(in, &out, w, h, "interesting", VIPS_INTERESTING_ATTENTION, NULL)) return NULL;
	return out;
}

static VipsImage *bench_memory(VipsImage *in) { return vips_image_copy_memory(in); }

static VipsImage *bench_gray(VipsImage *in) {
	VipsImage *out = NULL;
	if (vips_colourspace(in, &out, VIPS_INTERPRETATION_B_W, NULL)) return NULL;
	return out;
}

static VipsImage *bench_sepia(VipsImage *in) {
	static double m[9] = {0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131};
	VipsImage *mat = vips_image_new_matrix_from_array(3, 3, m, 9);
	VipsImage *r = NULL, *out = NULL;
	int rc = vips_recomb(in, &r, mat, NULL);
	g_object_unref(mat);
	if (rc) return NULL;
	rc = vips_cast_uchar(r, &out, NULL);
	g_object_unref(r);
	if (rc) return NULL;
	return out;
}

static int bench_save(VipsImage *in, int webp, int q) {
	void *buf = NULL;
	size_t len = 0;
	int rc = webp ?
		vips_webpsave_buffer(in, &buf, &len, "Q", q, "strip", TRUE, NULL) :
		vips_jpegsave_buffer(in, &buf, &len, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL);
	g_free(buf);
	return rc;
}

static void bench_unref(VipsImage *im) { g_object_unref(im); }

static VipsImage *bench_load_any(const void *buf, size_t len) {
	return vips_image_new_from_buffer(buf, len, "", NULL);
}

// bench_reference is the best a resize can do: the full decode, no
// shrink-on-load, one Lanczos-3 resize to exactly width x height.
static VipsImage *bench_reference(const void *buf, size_t len, int width, int height) {
	VipsImage *in = NULL, *out = NULL;
	if (vips_jpegload_buffer((void *)buf, len, &in, NULL)) return NULL;
	int rc = vips_resize(in, &out, (double) width / in->Xsize, "vscale", (double) height / in->Ysize,
		"kernel", VIPS_KERNEL_LANCZOS3, NULL);
	g_object_unref(in);
	if (rc) return NULL;
	return out;
}

static void *bench_pixels(VipsImage *in, size_t *len) {
	return vips_image_write_to_memory(in, len);
}
*/
import "C"

import (
	"errors"
	"strings"
	"unsafe"
)

func vipsInit() error {
	if C.bench_init() != 0 {
		return vipsError()
	}
	return nil
}

func vipsError() error {
	msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
	C.vips_error_clear()
	return errors.New("libvips: " + msg)
}

type vimage struct{ im *C.VipsImage }

func wrapImage(im *C.VipsImage) (*vimage, error) {
	if im == nil {
		return nil, vipsError()
	}
	return &vimage{im}, nil
}

func (i *vimage) close() { C.bench_unref(i.im) }

func (i *vimage) width() int  { return int(i.im.Xsize) }
func (i *vimage) height() int { return int(i.im.Ysize) }

func loadShrink(buf []byte, shrink int) (*vimage, error) {
	return wrapImage(C.bench_load(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), C.int(shrink)))
}

func thumbnail(buf []byte, w, h int, attention, toSRGB bool) (*vimage, error) {
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	return wrapImage(C.bench_thumbnail(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), C.int(w), C.int(h), b(attention), b(toSRGB)))
}

func (i *vimage) resize(scale float64) (*vimage, error) {
	return wrapImage(C.bench_resize(i.im, C.double(scale)))
}
func (i *vimage) smartcrop(w, h int) (*vimage, error) {
	return wrapImage(C.bench_smartcrop(i.im, C.int(w), C.int(h)))
}
func (i *vimage) memory() (*vimage, error) { return wrapImage(C.bench_memory(i.im)) }
func (i *vimage) gray() (*vimage, error)   { return wrapImage(C.bench_gray(i.im)) }
func (i *vimage) sepia() (*vimage, error)  { return wrapImage(C.bench_sepia(i.im)) }

func loadAny(buf []byte) (*vimage, error) {
	return wrapImage(C.bench_load_any(unsafe.Pointer(&buf[0]), C.size_t(len(buf))))
}

func reference(buf []byte, w, h int) (*vimage, error) {
	return wrapImage(C.bench_reference(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), C.int(w), C.int(h)))
}

// pixels are the picture's bands, interleaved, row by row.
func (i *vimage) pixels() ([]byte, int, error) {
	var n C.size_t
	p := C.bench_pixels(i.im, &n)
	if p == nil {
		return nil, 0, vipsError()
	}
	defer C.g_free(C.gpointer(p))
	return C.GoBytes(p, C.int(n)), int(i.im.Bands), nil
}

func (i *vimage) save(format string, q int) error {
	webp := C.int(0)
	if format == "webp" {
		webp = 1
	}
	if C.bench_save(i.im, webp, C.int(q)) != 0 {
		return vipsError()
	}
	return nil
}

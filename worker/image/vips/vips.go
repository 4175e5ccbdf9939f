// Package vips is kiln's own small cgo layer over libvips: just the calls the
// image job needs (header reads, shrink-on-load, keeping a decoded picture in
// memory to derive many variants from it, resize, crop, effects, encode),
// with libvips' own error text and no logging of its own.
package vips

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <vips/vips.h>

// libvips reports a damaged file that it can still partly read (a
// truncated JPEG, say) as a warning on the "VIPS" log domain. kiln keeps the
// last ones so that such a file fails its job instead of coming out grey.
static char kiln_warnings[1024];

static void kiln_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {
	size_t used = strlen(kiln_warnings);
	if (used + 3 < sizeof(kiln_warnings)) {
		g_snprintf(kiln_warnings + used, sizeof(kiln_warnings) - used, "%s%s", used ? "; " : "", msg);
	}
}

static void kiln_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {}

static void kiln_warnings_clear(void) { kiln_warnings[0] = 0; }
static const char *kiln_warnings_get(void) { return kiln_warnings; }

// One malloc arena for the whole process: libvips' buffers are few and
// large, so its threads hardly contend for the lock, while with two arenas
// each keeps its own high-water mark of freed buffers and a worker's peak
// is about 15 MiB higher.
//
// Buffers of 1 MiB and more (the decoded picture, a variant kept in
// memory, libjpeg's coefficients of a JPEG whose Huffman coding it
// optimises, the encoded input) get mappings of their own, handed back as
// they are freed. In the heap, where glibc would put them once the first
// was freed, they leave holes that the next picture's fit only in part:
// a worker that makes one variant at a time held about 20 MiB of heap for
// 15 MiB of buffers, and now holds its buffers alone. The page faults of
// mapping them again for every job cost no CPU that bench-image can tell
// from noise (it did, 10 %, when the decoded picture was 2000 pixels wide
// and two variants were made at once in every worker).
//
// glibc fixes the arena count the first time a second thread allocates,
// before kiln's first job and before Go's main: so this runs as the
// program is loaded (in kilnd too, which hardly uses malloc).
__attribute__((constructor)) static void kiln_malloc_tune(void) {
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

static void kiln_trim(void) { malloc_trim(0); }

static size_t kiln_malloc_mapped(void) { return mallinfo2().hblkhd; }

static int kiln_init(void) {
	if (VIPS_INIT("kilnd")) return -1;
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, kiln_log, NULL);
	g_log_set_handler("VIPS", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG, kiln_quiet, NULL);
	vips_cache_set_max(0); // every job reads a different file
	return 0;
}

static void kiln_block_untrusted(int block) { vips_block_untrusted_set(block); }

// kiln_blank is a black sRGB picture, to try an encoder on.
static VipsImage *kiln_blank(int width, int height) {
	VipsImage *black = NULL, *out = NULL;
	if (vips_black(&black, width, height, "bands", 3, NULL)) return NULL;
	int rc = vips_copy(black, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL);
	g_object_unref(black);
	return rc ? NULL : out;
}

static const char *kiln_loader(const void *buf, size_t len) {
	return vips_foreign_find_load_buffer(buf, len);
}

// kiln_blocked reports whether the loader named (its type name, as
// kiln_loader gives it) is blocked by the untrusted-loader policy; libvips
// 8.14 still picks such a loader for a buffer it recognises, and refuses
// it only when it is asked to load.
static int kiln_blocked(const char *loader) {
	GType type = g_type_from_name(loader);
	if (!type) return 0;
	VipsOperationClass *class = VIPS_OPERATION_CLASS(g_type_class_ref(type));
	int blocked = (class->flags & VIPS_OPERATION_BLOCKED) != 0;
	g_type_class_unref(class);
	return blocked;
}

typedef struct {
	const void *buf;
	size_t len;
} kiln_buffer;

static void *kiln_blocked_claims(VipsObjectClass *class, void *a) {
	kiln_buffer *b = (kiln_buffer *) a;
	VipsForeignLoadClass *load = (VipsForeignLoadClass *) class;
	if (G_TYPE_IS_ABSTRACT(G_OBJECT_CLASS_TYPE(class))) return NULL;
	if (!(VIPS_OPERATION_CLASS(class)->flags & VIPS_OPERATION_BLOCKED)) return NULL;
	if (!g_str_has_suffix(class->nickname, "_buffer") || !load->is_a_buffer) return NULL;
	return load->is_a_buffer(b->buf, b->len) ? (void *) class->nickname : NULL;
}

// kiln_blocked_loader is the nickname of a blocked loader that recognises
// buf, or NULL: since 8.16 libvips leaves the blocked loaders out when it
// looks for one (vips_foreign_map skips them too), so that a buffer only
// they know is "not in a known format". Only their recognisers run, which
// look at the first bytes, as every loader's did in 8.14.
static const char *kiln_blocked_loader(const void *buf, size_t len) {
	kiln_buffer b = {buf, len};
	return (const char *) vips_class_map_all(g_type_from_name("VipsForeignLoad"), kiln_blocked_claims, &b);
}

static const char *kiln_nickname(const char *loader) {
	GType type = g_type_from_name(loader);
	if (!type) return loader;
	VipsObjectClass *class = VIPS_OBJECT_CLASS(g_type_class_ref(type));
	const char *nickname = class->nickname;
	g_type_class_unref(class);
	return nickname;
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

// kiln_thumbnail decodes to fit width x height, never enlarging unless
// asked, turns the picture upright from its EXIF orientation, converts it
// to sRGB through its ICC profile if it has one (to_srgb), and keeps the
// result in memory so that many variants can be read from it.
//
// vips_thumbnail leaves a factor of two or more to its resize after
// libjpeg's shrink-on-load: for a 4000-wide JPEG going to 1600 it decodes
// at full size, and that decode and resize were most of a job's time. With
// jpeg_shrink > 1 the JPEG is decoded at 1/jpeg_shrink by libjpeg instead
// (the caller picks a factor that still leaves the picture at least as big
// as asked), and vips_thumbnail_image does the rest: orientation, colour,
// the final Lanczos-3 resize. The pixels differ from the full decode's by
// far less than a JPEG encode at q80 changes them.
//
// A picture without a profile is sRGB by the web's convention and is left
// as it is: asking vips_thumbnail for an sRGB export anyway runs it through
// an sRGB-to-sRGB transform that costs a third of the decode and shifts
// its colours.
static VipsImage *kiln_thumbnail(const void *buf, size_t len, int width, int height, int enlarge, int jpeg_shrink, int to_srgb) {
	VipsImage *t = NULL;
	int size = enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
	const char *export = to_srgb ? "srgb" : NULL;
	if (jpeg_shrink > 1) {
		VipsImage *in = NULL;
		if (vips_jpegload_buffer((void *)buf, len, &in, "shrink", jpeg_shrink,
				"access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL)) return NULL;
		int rc = vips_thumbnail_image(in, &t, width, "height", height, "size", size,
			"export_profile", export, NULL);
		g_object_unref(in);
		if (rc) return NULL;
	} else if (vips_thumbnail_buffer((void *)buf, len, &t, width, "height", height, "size", size,
			"export_profile", export, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL)) return NULL;
	VipsImage *m = vips_image_copy_memory(t);
	g_object_unref(t);
	return m;
}

static int kiln_has_icc(VipsImage *im) { return vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0; }

// kiln_strip returns a view of in without the metadata savers embed:
// libvips 8.14's WebP saver ignores "strip" and writes the ICC profile,
// EXIF and XMP it finds on the image, so they are taken off the image
// itself.
static VipsImage *kiln_strip(VipsImage *in) {
	VipsImage *out = NULL;
	if (vips_copy(in, &out, NULL)) return NULL;
	gchar **fields = vips_image_get_fields(out);
	for (int i = 0; fields[i]; i++) {
		const char *f = fields[i];
		if (strcmp(f, VIPS_META_ICC_NAME) == 0 || strcmp(f, VIPS_META_EXIF_NAME) == 0 ||
				strcmp(f, VIPS_META_XMP_NAME) == 0 || strcmp(f, VIPS_META_IPTC_NAME) == 0 ||
				strcmp(f, VIPS_META_PHOTOSHOP_NAME) == 0 || strcmp(f, VIPS_META_ORIENTATION) == 0 ||
				g_str_has_prefix(f, "exif-") || g_str_has_prefix(f, "png-comment-") ||
				strcmp(f, VIPS_META_IMAGEDESCRIPTION) == 0) {
			vips_image_remove(out, f);
		}
	}
	g_strfreev(fields);
	return out;
}

static VipsImage *kiln_resize(VipsImage *in, double hscale, double vscale) {
	VipsImage *out = NULL;
	if (vips_resize(in, &out, hscale, "vscale", vscale, "kernel", VIPS_KERNEL_LANCZOS3, NULL)) return NULL;
	return out;
}

static VipsImage *kiln_crop(VipsImage *in, int left, int top, int width, int height) {
	VipsImage *out = NULL;
	if (vips_extract_area(in, &out, left, top, width, height, NULL)) return NULL;
	return out;
}

static VipsImage *kiln_smartcrop(VipsImage *in, int width, int height, int interesting) {
	VipsImage *out = NULL;
	if (vips_smartcrop(in, &out, width, height, "interesting", interesting, NULL)) return NULL;
	return out;
}

static VipsImage *kiln_grayscale(VipsImage *in) {
	VipsImage *out = NULL;
	if (vips_colourspace(in, &out, VIPS_INTERPRETATION_B_W, NULL)) return NULL;
	return out;
}

// kiln_sepia applies the classic sepia colour matrix to the colour bands
// and keeps any alpha band as it was.
static VipsImage *kiln_sepia(VipsImage *in) {
	static double m[9] = {
		0.393, 0.769, 0.189,
		0.349, 0.686, 0.168,
		0.272, 0.534, 0.131,
	};
	VipsImage *base = vips_image_new();
	VipsImage **t = (VipsImage **) vips_object_local_array(VIPS_OBJECT(base), 6);
	VipsImage *rgb = in;
	if (in->Type != VIPS_INTERPRETATION_sRGB) {
		if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_sRGB, NULL)) goto fail;
		rgb = t[0];
	}
	VipsImage *colour = rgb;
	if (rgb->Bands > 3) {
		if (vips_extract_band(rgb, &t[1], 0, "n", 3, NULL)) goto fail;
		colour = t[1];
	}
	t[2] = vips_image_new_matrix_from_array(3, 3, m, 9);
	if (vips_recomb(colour, &t[3], t[2], NULL)) goto fail;
	if (vips_cast_uchar(t[3], &t[4], NULL)) goto fail;
	VipsImage *out = NULL;
	if (rgb->Bands > 3) {
		if (vips_extract_band(rgb, &t[5], 3, "n", rgb->Bands - 3, NULL)) goto fail;
		if (vips_bandjoin2(t[4], t[5], &out, NULL)) goto fail;
	} else {
		out = t[4];
		g_object_ref(out);
	}
	out->Type = VIPS_INTERPRETATION_sRGB;
	g_object_unref(base);
	return out;
fail:
	g_object_unref(base);
	return NULL;
}

static VipsImage *kiln_blur(VipsImage *in, double sigma) {
	VipsImage *out = NULL;
	if (vips_gaussblur(in, &out, sigma, NULL)) return NULL;
	return out;
}

static VipsImage *kiln_sharpen(VipsImage *in) {
	VipsImage *out = NULL;
	if (vips_sharpen(in, &out, NULL)) return NULL;
	return out;
}

static int kiln_save_jpeg(VipsImage *in, void **buf, size_t *len, int q, int progressive, int strip) {
	return vips_jpegsave_buffer(in, buf, len, "Q", q, "interlace", progressive, "strip", strip, "optimize_coding", TRUE, NULL);
}
static int kiln_save_webp(VipsImage *in, void **buf, size_t *len, int q, int lossless, int strip) {
	return vips_webpsave_buffer(in, buf, len, "Q", q, "lossless", lossless, "strip", strip, NULL);
}
static int kiln_save_png(VipsImage *in, void **buf, size_t *len, int compression, int strip) {
	return vips_pngsave_buffer(in, buf, len, "compression", compression, "strip", strip, NULL);
}
static int kiln_save_avif(VipsImage *in, void **buf, size_t *len, int q, int strip) {
	return vips_heifsave_buffer(in, buf, len, "Q", q, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "strip", strip, NULL);
}

static void kiln_unref(VipsImage *im) { g_object_unref(im); }
static VipsImage *kiln_memory(VipsImage *in) { return vips_image_copy_memory(in); }
static int kiln_concurrency(void) { return vips_concurrency_get(); }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

var (
	libraryOnce sync.Once
	libraryErr  error
	policyOnce  sync.Once
	decodeMu    sync.Mutex
)

// startLibrary initialises libvips once per process, without setting its
// loader policy: trying an encoder (Blank) reads no file, and must not fix
// the policy of a process that goes on to decode. Unless withModules, and
// whatever the first caller, libvips starts without its loadable modules
// (modules.go), which are loaded as pictures and outputs need them.
func startLibrary(withModules bool) error {
	libraryOnce.Do(func() {
		if !withModules {
			holdBackModules()
		}
		if C.kiln_init() != 0 {
			libraryErr = fmt.Errorf("start libvips: %s", lastError())
			return
		}
		setStripLines()
	})
	return libraryErr
}

// Start initialises libvips once per process and sets its loader policy,
// once too: unless allowUntrusted, loaders libvips marks untrusted (SVG,
// PDF, ...) are blocked: they are large attack surfaces for pictures from
// strangers. A process that allows them has every libvips module loaded;
// one that blocks them only the trusted ones it needs, when it needs
// them.
func Start(allowUntrusted bool) error {
	if err := startLibrary(allowUntrusted); err != nil {
		return err
	}
	policyOnce.Do(func() {
		if allowUntrusted {
			loadAllModules() // if an earlier Blank started libvips without them
		}
		modulesMu.Lock()
		untrustedBlocked = !allowUntrusted
		C.kiln_block_untrusted(b2i(untrustedBlocked))
		modulesMu.Unlock()
	})
	return nil
}

// blockUntrusted blocks libvips' untrusted operations again, those of a
// module loaded since included.
func blockUntrusted() { C.kiln_block_untrusted(1) }

// lastError takes libvips' error text. libvips keeps one buffer per
// process; kiln decodes in worker processes of one job each, so the text is
// this job's.
func lastError() string {
	msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
	C.vips_error_clear()
	msg = strings.ReplaceAll(msg, "\n", "; ")
	if msg == "" {
		msg = "unknown libvips error"
	}
	return msg
}

// Version is the version of the libvips this process runs, such as
// "8.14.1".
func Version() string { return C.GoString(C.vips_version_string()) }

// Concurrency is the number of threads libvips uses (VIPS_CONCURRENCY, or
// one per CPU).
func Concurrency() int { return int(C.kiln_concurrency()) }

// Image is a decoded picture held by libvips.
type Image struct {
	im *C.VipsImage
}

func wrap(im *C.VipsImage) (*Image, error) {
	if im == nil {
		return nil, errors.New(lastError())
	}
	return &Image{im: im}, nil
}

// Close frees the picture.
func (i *Image) Close() {
	if i.im != nil {
		C.kiln_unref(i.im)
		i.im = nil
	}
}

// Blank is a black sRGB picture of width x height, such as to try an
// encoder on; it starts libvips if need be.
func Blank(width, height int) (*Image, error) {
	if err := startLibrary(false); err != nil {
		return nil, err
	}
	return wrap(C.kiln_blank(C.int(width), C.int(height)))
}

// Width is the picture's width in pixels.
func (i *Image) Width() int { return int(i.im.Xsize) }

// Height is the picture's height in pixels.
func (i *Image) Height() int { return int(i.im.Ysize) }

// Header is what a picture's header says, read without decoding pixels.
type Header struct {
	Loader      string // libvips loader, e.g. "jpegload_buffer"
	Width       int
	Height      int
	Orientation int  // EXIF, 1..8
	ICC         bool // an embedded ICC profile
	CMYK        bool
}

// Input is an encoded picture read into C memory: libvips decodes it from
// there, and it is freed straight after the decode instead of waiting in
// Go's heap for a collection.
type Input struct {
	buf unsafe.Pointer
	n   int
}

// ReadFile reads the file at path into C memory.
func ReadFile(path string) (*Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := int(st.Size())
	in := &Input{buf: C.malloc(C.size_t(max(1, size))), n: size}
	if n, err := io.ReadFull(f, unsafe.Slice((*byte)(in.buf), size)); err != nil {
		in.Free()
		return nil, fmt.Errorf("read %s: %w (%d of %d bytes)", path, err, n, size)
	}
	return in, nil
}

// Bytes are the input's bytes, valid until Free.
func (in *Input) Bytes() []byte {
	if in.buf == nil {
		return nil
	}
	return unsafe.Slice((*byte)(in.buf), in.n)
}

// Free releases the input.
func (in *Input) Free() {
	if in.buf != nil {
		C.free(in.buf)
		in.buf = nil
	}
}

// Trim hands memory freed by libvips back to the kernel, for a worker
// that has gone idle.
func Trim() { C.kiln_trim() }

// mallocMapped is how many bytes malloc holds in mappings of their own,
// for the test of which buffers get one.
func mallocMapped() int64 { return int64(C.kiln_malloc_mapped()) }

// ErrUnknownFormat is the error of a picture no libvips loader here
// recognises (wrapped with libvips' own words).
var ErrUnknownFormat = errors.New("no libvips loader here knows its format")

// BlockedError is the error of a picture that only a loader blocked by the
// untrusted-loader policy would read. libvips words it differently by
// version (8.14: "operation is blocked"; 8.16: "not in a known format"),
// so kiln says it in its own words.
type BlockedError struct {
	Loader string // the loader's nickname, such as "svgload_buffer"
}

func (e *BlockedError) Error() string {
	return "only libvips' untrusted loader " + e.Loader + " reads it, and untrusted loaders are blocked"
}

// ReadHeader reads the header of an encoded picture.
func ReadHeader(buf []byte) (Header, error) {
	if len(buf) == 0 {
		return Header{}, errors.New("empty file")
	}
	if isoMediaFile(buf) {
		needOperation(heifModule, "heifload_buffer")
	}
	p, n := unsafe.Pointer(&buf[0]), C.size_t(len(buf))
	loader := C.kiln_loader(p, n)
	if loader == nil {
		msg := lastError()
		blocked := C.kiln_blocked_loader(p, n)
		runtime.KeepAlive(buf)
		if blocked != nil {
			return Header{}, &BlockedError{Loader: C.GoString(blocked)}
		}
		return Header{}, fmt.Errorf("%w (libvips: %s)", ErrUnknownFormat, msg)
	}
	if C.kiln_blocked(loader) != 0 {
		runtime.KeepAlive(buf)
		return Header{}, &BlockedError{Loader: C.GoString(C.kiln_nickname(loader))}
	}
	h := Header{Loader: C.GoString(loader)}
	im := C.kiln_header(unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	runtime.KeepAlive(buf)
	if im == nil {
		return h, decodeError(lastError())
	}
	defer C.kiln_unref(im)
	h.Width, h.Height, h.Orientation = int(im.Xsize), int(im.Ysize), int(C.kiln_orientation(im))
	h.ICC, h.CMYK = C.kiln_has_icc(im) != 0, im.Type == C.VIPS_INTERPRETATION_CMYK
	return h, nil
}

// Decode is how Thumbnail decodes.
type Decode struct {
	// JPEGShrink, if 2, 4 or 8, has libjpeg decode a JPEG at that fraction
	// of its size (see JPEGShrink); otherwise libvips picks.
	JPEGShrink int
	// ToSRGB converts through the picture's ICC profile (or from CMYK);
	// a picture without one is taken to be sRGB already.
	ToSRGB bool
	// Threads, if more than 0, is how many libvips threads decode (and
	// resize) the picture, in place of libvips' own number. libvips keeps
	// one number for the whole process: a process that decodes while it
	// makes variants of another picture must leave it at 0.
	Threads int
}

// Thumbnail decodes buf once, shrinking on load to fit inside width x
// height (never enlarging unless enlarge), upright and in sRGB, and keeps
// the result in memory.
func Thumbnail(buf []byte, width, height int, enlarge bool, how Decode) (*Image, error) {
	if len(buf) == 0 {
		return nil, errors.New("empty file")
	}
	e := C.int(0)
	if enlarge {
		e = 1
	}
	// The warning buffer is the process's: decodes take turns, so that one
	// picture's damage is never blamed on another. (A worker process decodes
	// one picture at a time anyway.)
	decodeMu.Lock()
	defer decodeMu.Unlock()
	if how.Threads > 0 {
		own := C.vips_concurrency_get()
		C.vips_concurrency_set(C.int(how.Threads))
		defer C.vips_concurrency_set(own)
	}
	C.kiln_warnings_clear()
	im := C.kiln_thumbnail(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), C.int(width), C.int(height), e, C.int(how.JPEGShrink), b2i(how.ToSRGB))
	runtime.KeepAlive(buf)
	if im == nil {
		return nil, decodeError(lastError())
	}
	img := &Image{im: im}
	if w := C.GoString(C.kiln_warnings_get()); isDamage(w) {
		img.Close()
		return nil, decodeError(w)
	}
	return img, nil
}

// decodeError is a failed decode in kiln's words where they are known
// (ErrDamaged), with libvips' own.
func decodeError(msg string) error {
	if isDamage(msg) {
		return fmt.Errorf("%w (libvips: %s)", ErrDamaged, msg)
	}
	return errors.New(msg)
}

// ErrDamaged is the error of a picture that is damaged or cut short
// (wrapped with libvips' own words, which differ by version: 8.14's
// "Premature end of JPEG file" is 8.16's "premature end of JPEG image").
var ErrDamaged = errors.New("the picture is damaged or cut short")

func b2i(v bool) C.int {
	if v {
		return 1
	}
	return 0
}

// JPEGShrink is the largest factor (1, 2, 4 or 8) by which libjpeg can
// shrink a srcW x srcH JPEG while decoding it and still leave it at least
// w x h (libjpeg rounds the shrunk size up).
func JPEGShrink(srcW, srcH, w, h int) int {
	for _, k := range []int{8, 4, 2} {
		if (srcW+k-1)/k >= w && (srcH+k-1)/k >= h {
			return k
		}
	}
	return 1
}

// isDamage tells warnings about a damaged file from harmless ones.
func isDamage(warnings string) bool {
	l := strings.ToLower(warnings)
	for _, s := range []string{"premature end", "truncated", "corrupt", "read error", "out of order"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Resize scales the picture, horizontally by h and vertically by v.
func (i *Image) Resize(h, v float64) (*Image, error) {
	return wrap(C.kiln_resize(i.im, C.double(h), C.double(v)))
}

// Materialize computes the picture into memory, so that several variants
// can read it without computing it again each.
func (i *Image) Materialize() (*Image, error) { return wrap(C.kiln_memory(i.im)) }

// Crop cuts out a rectangle.
func (i *Image) Crop(left, top, width, height int) (*Image, error) {
	return wrap(C.kiln_crop(i.im, C.int(left), C.int(top), C.int(width), C.int(height)))
}

// Interest is how SmartCrop picks what to keep.
type Interest int

const (
	InterestEntropy   Interest = C.VIPS_INTERESTING_ENTROPY
	InterestAttention Interest = C.VIPS_INTERESTING_ATTENTION
)

// SmartCrop cuts width x height around the most interesting part.
func (i *Image) SmartCrop(width, height int, how Interest) (*Image, error) {
	return wrap(C.kiln_smartcrop(i.im, C.int(width), C.int(height), C.int(how)))
}

// Grayscale converts to one gray band.
func (i *Image) Grayscale() (*Image, error) { return wrap(C.kiln_grayscale(i.im)) }

// Sepia tones the picture with the classic sepia colour matrix.
func (i *Image) Sepia() (*Image, error) { return wrap(C.kiln_sepia(i.im)) }

// Blur applies a gaussian blur of the given sigma.
func (i *Image) Blur(sigma float64) (*Image, error) { return wrap(C.kiln_blur(i.im, C.double(sigma))) }

// Sharpen applies libvips' default unsharp mask.
func (i *Image) Sharpen() (*Image, error) { return wrap(C.kiln_sharpen(i.im)) }

// EncodeOptions are an output's settings.
type EncodeOptions struct {
	Format       string // jpeg | png | webp | avif
	Quality      int    // 1..100; 0 = 80
	Progressive  bool   // jpeg
	Compression  int    // png, 0..9; -1 = 6
	Lossless     bool   // webp
	KeepMetadata bool
}

// Encoded is an encoded picture in libvips' memory; Free releases it.
type Encoded struct {
	buf unsafe.Pointer
	n   int
}

// Bytes are the encoded picture, valid until Free.
func (e *Encoded) Bytes() []byte { return unsafe.Slice((*byte)(e.buf), e.n) }

// Len is the encoded picture's size in bytes.
func (e *Encoded) Len() int { return e.n }

// Free releases the encoded bytes.
func (e *Encoded) Free() {
	if e.buf != nil {
		C.g_free(C.gpointer(e.buf))
		e.buf = nil
	}
}

// Encode writes the picture in the given format. The bytes stay in
// libvips' memory (no copy into Go's heap); the caller frees them.
func (i *Image) Encode(o EncodeOptions) (*Encoded, error) {
	if o.Format == "avif" {
		needOperation(heifModule, "heifsave_buffer")
	}
	q := C.int(o.Quality)
	if q <= 0 {
		q = 80
	}
	strip := C.int(1)
	img := i.im
	if o.KeepMetadata {
		strip = 0
	} else {
		img = C.kiln_strip(i.im)
		if img == nil {
			return nil, errors.New(lastError())
		}
		defer C.kiln_unref(img)
	}
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	var (
		buf unsafe.Pointer
		n   C.size_t
		rc  C.int
	)
	switch o.Format {
	case "jpeg":
		rc = C.kiln_save_jpeg(img, &buf, &n, q, b(o.Progressive), strip)
	case "webp":
		rc = C.kiln_save_webp(img, &buf, &n, q, b(o.Lossless), strip)
	case "png":
		c := C.int(o.Compression)
		if o.Compression < 0 {
			c = 6
		}
		rc = C.kiln_save_png(img, &buf, &n, c, strip)
	case "avif":
		rc = C.kiln_save_avif(img, &buf, &n, q, strip)
	default:
		return nil, fmt.Errorf("unknown format %q", o.Format)
	}
	if rc != 0 {
		return nil, errors.New(lastError())
	}
	e := &Encoded{buf: buf, n: int(n)}
	if o.Format == "webp" && !o.KeepMetadata {
		// libvips 8.14's WebP saver writes an EXIF chunk of its own (the
		// resolution) even with nothing left on the image to write.
		e.n = len(stripWebP(e.Bytes()))
	}
	return e, nil
}

// stripWebP drops the ICCP, EXIF and XMP chunks of an extended WebP in
// place, clears their flags in the VP8X header and fixes the RIFF size;
// it returns the shortened file.
func stripWebP(b []byte) []byte {
	if len(b) < 30 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" || string(b[12:16]) != "VP8X" {
		return b // a simple WebP has no room for metadata
	}
	const iccFlag, exifFlag, xmpFlag = 0x20, 0x08, 0x04
	b[20] &^= iccFlag | exifFlag | xmpFlag
	w := 12
	for r := 12; r+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[r+4:]))
		end := min(len(b), r+8+n+n&1)
		switch string(b[r : r+4]) {
		case "ICCP", "EXIF", "XMP ":
		default:
			w += copy(b[w:], b[r:end])
		}
		r = end
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(w-8))
	return b[:w]
}

package vips

/*
#cgo pkg-config: vips
#include <vips/vips.h>

// kiln_strip_lines has libvips compute lines strips of its pipelines.
// libvips takes the height only as a command-line option of its own
// (hidden, for debugging), which is parsed here as a program's would be;
// a libvips without it keeps its own.
static void kiln_strip_lines(int lines) {
	GOptionContext *ctx = g_option_context_new(NULL);
	GOptionGroup *group = g_option_group_new("vips", "libvips", "libvips", NULL, NULL);
	vips_add_option_entries(group);
	g_option_context_set_main_group(ctx, group);
	g_option_context_set_ignore_unknown_options(ctx, TRUE);
	char *arg = g_strdup_printf("--vips-tile-height=%d", lines);
	char *args[] = {"kiln", arg, NULL};
	char **argv = args;
	int argc = 2;
	g_option_context_parse(ctx, &argc, &argv, NULL);
	g_free(arg);
	g_option_context_free(ctx);
}

static int kiln_image_strip_lines(VipsImage *im) {
	int tw, th, lines;
	vips_get_tile_size(im, &tw, &th, &lines);
	return lines;
}
*/
import "C"

// stripLines is the height of the strips libvips computes a pipeline in.
// Each step of a pipeline that a saver pulls from keeps a strip of its
// own: with libvips' 128 lines, a 1600-wide resize into a JPEG holds about
// 5 MB of them on one thread, and a worker that makes two variants at once
// twice that. 32 lines hold a quarter as much, at the same speed here for
// resizes, encodes, blur and sharpen (16 made blur and sharpen, whose
// tiles shrink with it, a third slower). The pixels do not change.
const stripLines = 32

func setStripLines() { C.kiln_strip_lines(stripLines) }

// stripLinesOf is how many lines at a time libvips computes the picture
// in, for the test that the setting took.
func (i *Image) stripLinesOf() int { return int(C.kiln_image_strip_lines(i.im)) }

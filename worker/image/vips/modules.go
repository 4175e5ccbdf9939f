package vips

/*
#cgo pkg-config: vips gmodule-2.0
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <gmodule.h>
#include <vips/vips.h>

// libvips keeps some formats in loadable modules (vips-heif, vips-jxl,
// vips-magick, vips-poppler, vips-openslide on Debian) and loads every one
// of them as it starts, with the hundred-odd libraries they need. The
// loaders of all but vips-heif are untrusted, so a worker that blocks
// untrusted loaders has no use for them, yet each one it maps costs it
// their relocations (about 1 MiB per worker process) and their pages. Such
// a worker starts libvips without its modules and loads vips-heif only
// when a picture or an output needs it.

// kiln_module_dir is where this libvips keeps its modules, set only when
// libvips was started without them.
static char *kiln_module_dir;

// kiln_modules_hold_back has libvips start without its modules: it looks
// for them under $VIPSHOME/lib, and /dev/null can have nothing under it.
// The directory they are taken from later is the one beside the libvips
// that is loaded, as libvips' own is (its libdir). A VIPSHOME the
// environment sets is left alone, and with it every module.
static void kiln_modules_hold_back(void) {
	if (g_getenv("VIPSHOME")) return;
	Dl_info info;
	if (!dladdr((void *) vips_init, &info) || !info.dli_fname) return;
	char *libdir = g_path_get_dirname(info.dli_fname);
	kiln_module_dir = g_strdup_printf("%s/vips-modules-%d.%d", libdir, VIPS_MAJOR_VERSION, VIPS_MINOR_VERSION);
	g_free(libdir);
	g_setenv("VIPSHOME", "/dev/null", TRUE);
}

// kiln_module_load loads the module vips-NAME unless op (an operation's
// nickname, such as "heifsave_buffer") is here already: built in, or
// loaded. It returns whether op is here after.
static int kiln_module_load(const char *name, const char *op) {
	if (vips_type_find("VipsOperation", op)) return 1;
	if (!kiln_module_dir) return 0;
	char *file = g_strdup_printf("vips-%s.%s", name, G_MODULE_SUFFIX);
	char *path = g_build_filename(kiln_module_dir, file, NULL);
	// The module registers its operations as it opens, and stays loaded.
	g_module_open(path, G_MODULE_BIND_LAZY);
	g_free(path);
	g_free(file);
	return vips_type_find("VipsOperation", op) != 0;
}

// kiln_modules_load_all loads every module held back, as libvips would
// have as it started.
static void kiln_modules_load_all(void) {
	if (!kiln_module_dir) return;
	GDir *dir = g_dir_open(kiln_module_dir, 0, NULL);
	if (!dir) return;
	const char *name;
	while ((name = g_dir_read_name(dir))) {
		if (!g_str_has_suffix(name, "." G_MODULE_SUFFIX)) continue;
		char *path = g_build_filename(kiln_module_dir, name, NULL);
		g_module_open(path, G_MODULE_BIND_LAZY);
		g_free(path);
	}
	g_dir_close(dir);
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

// heifModule is the module of libvips' HEIF (and AVIF) loader and saver.
const heifModule = "heif"

var (
	modulesMu sync.Mutex
	// loadedFor are the operations found after loading their module.
	loadedFor = map[string]bool{}
	// untrustedBlocked is the loader policy once Start has set it: a
	// module loaded after it is blocked too.
	untrustedBlocked bool
)

// holdBackModules has libvips, about to start, leave its modules out.
func holdBackModules() { C.kiln_modules_hold_back() }

// loadAllModules loads every module libvips was started without.
func loadAllModules() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	C.kiln_modules_load_all()
}

// needOperation makes sure the operation op (its nickname) is here,
// loading libvips' module name if libvips was started without it. An
// operation still missing is left for libvips to report when it is
// called, in its own words.
func needOperation(module, op string) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if loadedFor[op] {
		return
	}
	cm, cop := C.CString(module), C.CString(op)
	defer C.free(unsafe.Pointer(cm))
	defer C.free(unsafe.Pointer(cop))
	if C.kiln_module_load(cm, cop) == 0 {
		return
	}
	loadedFor[op] = true
	if untrustedBlocked {
		// Any untrusted loader the module brought is blocked like the rest.
		blockUntrusted()
	}
}

// isoMediaFile tells a file in the ISO base media format (HEIF, AVIF),
// which starts with an ftyp box.
func isoMediaFile(buf []byte) bool {
	return len(buf) >= 12 && string(buf[4:8]) == "ftyp"
}

package imagetest

import (
	"os"
	"path/filepath"
	"slices"
)

// AV1EncoderPlugin is the file libheif loads its AV1 encoder from, as
// Debian 13 installs it (libheif-plugin-aomenc), or "" where libheif has
// its encoders built in (Debian 12's libheif1) and loads none from a
// directory.
func AV1EncoderPlugin() string {
	found, _ := filepath.Glob("/usr/lib/*/libheif/plugins/libheif-aomenc.so")
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// AV1EncoderSkipReason is why a test of a missing AV1 encoder cannot run
// on a host without the plug-in directory.
const AV1EncoderSkipReason = "libheif here has no plug-in directory holding libheif-aomenc.so: its AV1 encoder is built into libheif1 " +
	"(Debian 12), and taking it away would take libheif, which libvips links, with it; `make test-image-13` runs this on Debian 13"

// PluginPathWithout makes under dir a directory for LIBHEIF_PLUGIN_PATH
// holding the plug-ins of the directory plugin lies in, all but those
// named: a libheif that reads it runs as on a host where their packages
// are not installed.
func PluginPathWithout(dir, plugin string, without ...string) (string, error) {
	all, err := filepath.Glob(filepath.Join(filepath.Dir(plugin), "*.so"))
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "libheif-plugins")
	if err := os.MkdirAll(path, 0o755); err != nil {
		return "", err
	}
	for _, p := range all {
		if slices.Contains(without, filepath.Base(p)) {
			continue
		}
		if err := os.Symlink(p, filepath.Join(path, filepath.Base(p))); err != nil {
			return "", err
		}
	}
	return path, nil
}

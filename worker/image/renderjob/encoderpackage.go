package renderjob

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// debianRelease is the Debian release a host runs, from its os-release:
// major 12 for bookworm, 13 for trixie; 0 when it is no Debian.
type debianRelease struct {
	major int
}

// debianCodenames are releases by codename, for an os-release without a
// VERSION_ID (testing and unstable name only their codename).
var debianCodenames = map[string]int{"bookworm": 12, "trixie": 13}

// parseOSRelease reads an os-release file's text.
func parseOSRelease(text string) debianRelease {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `'"`)
		}
		fields[k] = v
	}
	if fields["ID"] != "debian" {
		return debianRelease{}
	}
	if n, err := strconv.Atoi(fields["VERSION_ID"]); err == nil {
		return debianRelease{major: n}
	}
	return debianRelease{major: debianCodenames[fields["VERSION_CODENAME"]]}
}

var hostRelease = sync.OnceValue(func() debianRelease {
	for _, path := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if b, err := os.ReadFile(path); err == nil {
			return parseOSRelease(string(b))
		}
	}
	return debianRelease{}
})

// encoderSource is the Debian package that brings a format's encoder, and
// what it is, in words that follow its name.
type encoderSource struct {
	name, brings string
}

// encoderPackage is the package of release r that brings libvips' encoder
// of format; its name is "" where it is not known (releases other than 12
// and 13, which kiln is tested on). Debian 12's libheif1 has its AV1
// encoder built in; Debian 13's is a plug-in package of its own, which
// libheif1 only recommends. JPEG, PNG and WebP are written by libvips
// itself, with libraries its package depends on.
func encoderPackage(format string, r debianRelease) encoderSource {
	switch {
	case r.major == 12 && format == "avif":
		return encoderSource{"libheif1", "which holds libheif's AV1 encoder"}
	case r.major == 13 && format == "avif":
		return encoderSource{"libheif-plugin-aomenc", "libheif's AV1 encoder plug-in, which libheif1 only recommends"}
	case r.major == 12:
		return encoderSource{"libvips42", "which holds libvips' " + formatName(format) + " saver"}
	case r.major == 13:
		return encoderSource{"libvips42t64", "which holds libvips' " + formatName(format) + " saver"}
	}
	return encoderSource{}
}

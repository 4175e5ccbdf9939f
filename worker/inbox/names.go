package inbox

import (
	"strings"
	"unicode/utf8"
)

// temporarySuffixes are the names uploaders and editors write a file under
// before it is whole: a browser's download, rsync's and curl's partial
// files, an editor's swap and backup files.
var temporarySuffixes = []string{".part", ".partial", ".tmp", ".temp", ".swp", ".swx", ".crdownload", ".download", "~"}

// ignored reports whether a name in an inbox is left alone: a dot-file
// (rsync and many uploaders write to one and rename it), or a temporary
// name.
func ignored(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range temporarySuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// maxNameBytes bounds the name of a picture that is taken: its name in
// .processing adds the key, and the whole must stay within a file name's
// 255 bytes.
const maxNameBytes = 255 - keyLen - 1

// unusableName says why a picture cannot be taken under its name, "" when
// it can: the name goes into the job's payload, which is JSON text.
func unusableName(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "its name is not valid UTF-8, which a job's payload must be: rename it"
	case len(name) > maxNameBytes:
		return "its name is longer than " + itoa(maxNameBytes) + " bytes: rename it"
	}
	return ""
}

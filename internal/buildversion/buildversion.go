// Package buildversion names the version of the running binary: the one
// the release build stamps into it, or else what Go's build info knows of
// the module and the commit it was built from, so that a binary built with
// plain `go build` or `go install` still says what it is.
package buildversion

import (
	"runtime/debug"
	"strings"
)

// Of is the version to print for a binary whose build stamped stamped
// into it ("" or "dev" when the build stamped nothing).
func Of(stamped string) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(info)
}

// fromBuildInfo is the module's version with the commit and, for a tree
// with uncommitted changes, "dirty": `go install kiln/cmd/kilnd@v0.2.0`
// gives "v0.2.0"; a `go build` in a clone gives Go's pseudo-version of the
// commit (v0.1.1-0.20261201093000-abcdef123456+dirty), to which the
// revision adds nothing; a build outside version control "(devel)".
func fromBuildInfo(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return v
	}
	short := rev[:min(len(rev), 12)]
	if strings.Contains(v, short) {
		return v
	}
	v += " (commit " + short
	if modified == "true" {
		v += ", dirty"
	}
	return v + ")"
}

// Package golist asks the go command about the module's packages, for the
// tests that hold the packages' dependencies to their rules.
package golist

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Deps lists pkg and every package it imports, directly or not, as
// `go list -deps` does, with the go command of the toolchain that built
// the caller (wherever PATH leads).
func Deps(pkg string) ([]string, error) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	return strings.Fields(string(out)), nil
}

// Packages lists the packages pattern matches (such as "kiln/..."), as
// `go list` does, with the same go command as Deps.
func Packages(pattern string) ([]string, error) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", pattern).Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", pattern, err)
	}
	return strings.Fields(string(out)), nil
}

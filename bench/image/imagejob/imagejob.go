// Package imagejob is what bench-image asks of every system: the jobs and
// their variants, as kiln's pipelines name them, and the small helpers both
// of its programs use. It imports nothing of kiln's image worker, so that
// the program that weighs the systems (bench/image) never links libvips:
// the pages of libvips' libraries it would map would be shared with the
// system it weighs, and taken off that system's PSS, by more for a system
// of one process than for kiln's three.
package imagejob

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Variant is one output, with the fields of kiln's image.Variant that the
// jobs set (and the same JSON names).
type Variant struct {
	Name    string `json:"name"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Fit     string `json:"fit"`
	Gravity string `json:"gravity"`
	Effect  string `json:"effect"`
	Format  string `json:"format"`
	Quality int    `json:"quality"`
}

// Names are the jobs, in the order they are run.
var Names = []string{"four", "standard"}

// Jobs are the variants of each job: "four", what an image server is asked
// for, and "standard", kiln's six variants.
var Jobs = map[string][]Variant{
	"four": {
		{Name: "w1600", Width: 1600, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 80},
		{Name: "w800", Width: 800, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 80},
		{Name: "w800-webp", Width: 800, Fit: "inside", Gravity: "centre", Format: "webp", Quality: 75},
		{Name: "thumb", Width: 200, Height: 200, Fit: "cover", Gravity: "attention", Format: "jpeg", Quality: 80},
	},
	"standard": {
		{Name: "w1600", Width: 1600, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 85},
		{Name: "w800", Width: 800, Fit: "inside", Gravity: "centre", Format: "jpeg", Quality: 85},
		{Name: "w800-webp", Width: 800, Fit: "inside", Gravity: "centre", Format: "webp", Quality: 80},
		{Name: "thumb", Width: 200, Height: 200, Fit: "cover", Gravity: "attention", Format: "jpeg", Quality: 85},
		{Name: "w800-gray", Width: 800, Fit: "inside", Gravity: "centre", Effect: "grayscale", Format: "jpeg", Quality: 85},
		{Name: "w800-sepia", Width: 800, Fit: "inside", Gravity: "centre", Effect: "sepia", Format: "jpeg", Quality: 85},
	},
}

// InprocResult is what a contender run prints, as JSON.
type InprocResult struct {
	PicturesPerS float64 `json:"pictures_per_s"`
	CPUMs        float64 `json:"cpu_ms_per_picture"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	P50, P90     float64 // one picture at a time, ms
	PeakPSSMiB   float64 `json:"-"` // weighed from outside
}

// Percentile is the p-th percentile of d, in milliseconds.
func Percentile(d []time.Duration, p int) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return float64(s[max(0, min(len(s)-1, i-1))]) / float64(time.Millisecond)
}

// HWM is a process's peak resident size in bytes.
func HWM(pid int) int64 { return statusField(pid, "VmHWM:") }

// statusField is a size from /proc/PID/status, in bytes.
func statusField(pid int, key string) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

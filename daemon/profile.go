package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// envProfileDir names a directory where kilnd writes a CPU profile
// (cpu.pprof) for its whole life and an allocation profile (allocs.pprof)
// when it stops. Benchmarks set it to see where a daemon's time goes under
// load; nothing else should, since profiling costs a few percent.
const envProfileDir = "KILND_PROFILE_DIR"

// startProfiling starts the profiles KILND_PROFILE_DIR asks for and returns
// what writes them out at exit (a no-op when it is unset).
func startProfiling() (stop func(), err error) {
	dir := os.Getenv(envProfileDir)
	if dir == "" {
		return func() {}, nil
	}
	cpuPath := filepath.Join(dir, "cpu.pprof")
	f, err := os.Create(cpuPath)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile %s: %w", cpuPath, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile %s: %w", cpuPath, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		allocPath := filepath.Join(dir, "allocs.pprof")
		a, err := os.Create(allocPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kilnd: create allocation profile %s: %v\n", allocPath, err)
			return
		}
		defer a.Close()
		runtime.GC() // so that the profile is up to date
		if err := pprof.Lookup("allocs").WriteTo(a, 0); err != nil {
			fmt.Fprintf(os.Stderr, "kilnd: write allocation profile %s: %v\n", allocPath, err)
		}
	}, nil
}

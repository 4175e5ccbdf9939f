//go:build race

package image

import "os"

// trialEnv is what the environment of a trial process adds to a worker's.
// A build with the race detector (the tests') sleeps a second as it
// exits, so that the reports of its other threads come out; the trial
// does its work on one, and every start of a race-built kilnd would wait
// that second for its trial to end.
func trialEnv() []string {
	gorace := os.Getenv("GORACE")
	if gorace != "" {
		gorace += " "
	}
	return []string{"GORACE=" + gorace + "atexit_sleep_ms=0"}
}

//go:build !race

package image

// trialEnv is what the environment of a trial process adds to a worker's:
// nothing but in a race detector build (trialenv_race.go).
func trialEnv() []string { return nil }

package local

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kiln/worker"
	"kiln/worker/queuetest"
)

// The conformance suite is what a new backend is judged by, so it must be
// able to fail one. Here the local store is deliberately broken in ways a
// backend plausibly could be, and the suite is run on each in a child
// process (a failing case there must not fail this test) that must report
// the cases that catch the breakage as failed.

// silentStore is a deliberately broken backend: the local store with its
// wake-ups cut. Ready never signals and Changed never closes, so a pool on
// it would leave new jobs waiting until its next timer.
type silentStore struct {
	*Store
	never chan struct{}
}

func (s *silentStore) Ready() <-chan struct{}   { return s.never }
func (s *silentStore) Changed() <-chan struct{} { return s.never }
func (s *silentStore) localStore() *Store       { return s.Store }

// stuckReleaseStore is a deliberately broken backend: the local store with
// a Release that reports success and does nothing, leaving the job running
// until its lease runs out.
type stuckReleaseStore struct{ *Store }

func (s *stuckReleaseStore) Release(context.Context, string) error { return nil }
func (s *stuckReleaseStore) localStore() *Store                    { return s.Store }

// resubmitChainStore is a deliberately broken backend: the local store
// storing a job's follow-ups as new submits of their own, then its success,
// as a backend without chains in its design might: a crash between the two
// leaves the chain with a step twice, and a known ID is not recognised.
type resubmitChainStore struct{ *Store }

func (s *resubmitChainStore) CompleteWithFollowUps(ctx context.Context, id string, result json.RawMessage, followUps []*worker.JobRecord) error {
	jobs := make([]*worker.JobRecord, len(followUps))
	for i, f := range followUps {
		j := *f
		jobs[i] = &j
	}
	if _, err := s.Submit(ctx, jobs...); err != nil {
		return err
	}
	return s.Complete(ctx, id, result)
}
func (s *resubmitChainStore) localStore() *Store { return s.Store }

// brokenBackends are the broken stores, each with the suite cases that must
// catch it and a few that must still pass, so that a wrapper which broke
// everything (and so proved nothing) is noticed.
var brokenBackends = map[string]struct {
	wrap     func(*Store) worker.Queue
	mustFail []string
	mustPass []string
}{
	"silent": {
		wrap: func(s *Store) worker.Queue { return &silentStore{Store: s, never: make(chan struct{})} },
		mustFail: []string{
			"Ready/AfterSubmit", "Ready/AfterRelease", "Ready/AfterFailWithDueRetry",
			"Ready/AfterResume", "Ready/AfterRetry", "Ready/AfterRecoverExpired",
			"Changed/OnSubmit", "Changed/OnLease", "Changed/OnComplete", "Changed/OnFailRetrying",
			"Changed/OnFailDead", "Changed/OnCancel", "Changed/OnRetry", "Changed/OnRelease",
		},
		mustPass: []string{"AtLeastOnce", "Release", "Errors", "Retention"},
	},
	"stuck-release": {
		wrap: func(s *Store) worker.Queue { return &stuckReleaseStore{Store: s} },
		mustFail: []string{
			"Release", "Ready/AfterRelease", "Changed/OnRelease", "Errors/NotFound/Release",
			"Errors/WrongState/ReleaseQueued", "Errors/WrongState/ReleaseSucceeded", "Errors/WrongState/ReleaseDead",
		},
		mustPass: []string{"AtLeastOnce", "Ready/AfterSubmit", "Changed/OnComplete", "Errors/NotFound/Get", "CrashRecovery"},
	},
	"resubmit-chain": {
		wrap:     func(s *Store) worker.Queue { return &resubmitChainStore{Store: s} },
		mustFail: []string{"Chains/StoredWithSuccess", "Chains/CrashRunsTheSameStep", "Chains/KnownIDNotAJobTwice"},
		mustPass: []string{"AtLeastOnce", "Release", "CrashRecovery", "Chains/CancelledParentHasNone"},
	},
}

// brokenBackendEnv names the broken store a child process runs the suite on.
const brokenBackendEnv = "KILN_QUEUETEST_BROKEN_BACKEND"

var resultLine = regexp.MustCompile(`--- (PASS|FAIL): (\S+) \(`)

func TestSuiteFailsBrokenBackends(t *testing.T) {
	const self = "TestSuiteFailsBrokenBackends"
	if name := os.Getenv(brokenBackendEnv); name != "" {
		// The child: this run is meant to fail.
		broken, ok := brokenBackends[name]
		if !ok {
			t.Fatalf("%s=%q names no broken backend", brokenBackendEnv, name)
		}
		queuetest.Run(t, localBackend(broken.wrap))
		return
	}
	t.Parallel()
	for name, broken := range brokenBackends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Wake-up cases on a silent store each wait out their deadline:
			// let them all wait at once.
			cmd := exec.Command(os.Args[0], "-test.run=^"+self+"$", "-test.v", "-test.count=1", "-test.parallel=64", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), brokenBackendEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite on the %s store: %v, want it to fail; output:\n%s", name, err, out)
			}
			passed, failed := map[string]bool{}, map[string]bool{}
			for _, m := range resultLine.FindAllStringSubmatch(string(out), -1) {
				c, isCase := strings.CutPrefix(m[2], self+"/")
				if !isCase {
					continue
				}
				if m[1] == "PASS" {
					passed[c] = true
				} else {
					failed[c] = true
				}
			}
			for _, c := range broken.mustFail {
				if !failed[c] {
					t.Errorf("case %s did not fail on the %s store", c, name)
				}
			}
			for _, c := range broken.mustPass {
				if !passed[c] {
					t.Errorf("case %s did not pass on the %s store, which breaks nothing it relies on", c, name)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
				return
			}
			// What the suite said about the broken store, for the reader.
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "--- FAIL") || failureMessage.MatchString(l) {
					t.Log(strings.TrimSpace(l))
				}
			}
			var others []string
			for c := range failed {
				if !slices.Contains(broken.mustFail, c) && !isParentOfAny(c, broken.mustFail) {
					others = append(others, c)
				}
			}
			if len(others) > 0 {
				slices.Sort(others)
				t.Logf("also failed on the %s store: %v", name, others)
			}
		})
	}
}

// failureMessage is a t.Error or t.Fatal line in test output.
var failureMessage = regexp.MustCompile(`^\s+\w+\.go:\d+: `)

// isParentOfAny reports whether c is a group whose failure comes from one
// of the cases under it.
func isParentOfAny(c string, cases []string) bool {
	for _, d := range cases {
		if strings.HasPrefix(d, c+"/") {
			return true
		}
	}
	return false
}

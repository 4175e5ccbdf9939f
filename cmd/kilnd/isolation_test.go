package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kiln/api"
	"kiln/worker"
	"kiln/worker/image"
	"kiln/worker/image/imageapi"
)

// workerPIDs lists the image worker processes of a kilnd.
func workerPIDs(t *testing.T, kilnd int) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat := procStatOrNil(pid)
		if len(stat) < 2 || stat[1] != strconv.Itoa(kilnd) {
			continue
		}
		// The worker binary beside kilnd.
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		argv := strings.Split(string(cmdline), "\x00")
		if filepath.Base(argv[0]) == image.WorkerBinary {
			pids = append(pids, pid)
		}
	}
	return pids
}

func procStatOrNil(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	return strings.Fields(s[i+2:])
}

// whileRunning calls do each time the job is seen running with its image
// worker busy, until the job has finished.
func whileRunning(t *testing.T, e *env, kilnd int, id string, do func(workers []int)) *api.Job {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	handled := -1
	for time.Now().Before(deadline) {
		j, err := e.client().Job(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		if j.State == worker.StateRunning && j.Attempts != handled {
			if w := workerPIDs(t, kilnd); len(w) > 0 {
				do(w)
				handled = j.Attempts
			}
		}
		time.Sleep(5 * time.Millisecond) // polling the job's state, not timing
	}
	t.Fatalf("job %s did not finish", id)
	return nil
}

// A worker killed in the middle of a job costs that attempt only: the job
// is retried on a new worker and succeeds; the daemon carries on.
func TestKilledWorkerFailsOnlyItsAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	pic := e.picture(t, "big.jpg", 6000, 4000)
	j, err := e.client().Submit(context.Background(), imageapi.Request("web", pic))
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	final := whileRunning(t, e, d.cmd.Process.Pid, j.ID, func(workers []int) {
		if killed == 0 {
			for _, w := range workers {
				syscall.Kill(w, syscall.SIGKILL)
			}
			killed++
		}
	})
	if final.State != worker.StateSucceeded || final.Attempts != 2 {
		t.Fatalf("job after its worker was killed: %s, %d attempts, errors %+v", final.State, final.Attempts, final.Errors)
	}
	if !strings.Contains(final.Errors[0].Error, "died") || !strings.Contains(final.Errors[0].Error, "killed") {
		t.Fatalf("first attempt's error %q does not say the worker died", final.Errors[0].Error)
	}
	if e.kilnctl(t, "status").code != 0 {
		t.Fatal("daemon gone")
	}
}

// A decoder that hangs (here: a worker the test freezes with SIGSTOP) is
// killed at the queue's timeout; the attempt is counted and the job retried.
func TestHungWorkerIsKilledAtTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, strings.Replace(e.configText("", ""), `backoff_max = "50ms"`, "backoff_max = \"50ms\"\ntimeout = \"2s\"", 1))
	d := e.start(t)
	pic := e.picture(t, "slow.jpg", 6000, 4000)
	j, err := e.client().Submit(context.Background(), imageapi.Request("web", pic))
	if err != nil {
		t.Fatal(err)
	}
	var frozen []int
	final := whileRunning(t, e, d.cmd.Process.Pid, j.ID, func(workers []int) {
		if len(frozen) == 0 {
			for _, w := range workers {
				syscall.Kill(w, syscall.SIGSTOP)
			}
			frozen = workers
		}
	})
	if final.State != worker.StateSucceeded || final.Attempts != 2 {
		t.Fatalf("job after a hung worker: %s, %d attempts, errors %+v", final.State, final.Attempts, final.Errors)
	}
	if !strings.Contains(final.Errors[0].Error, "timed out after 2s") || !strings.Contains(final.Errors[0].Error, "killed") {
		t.Fatalf("first attempt's error %q does not say it timed out and the worker was killed", final.Errors[0].Error)
	}
	for _, w := range frozen {
		if st := procStatOrNil(w); st != nil && st[0] != "Z" {
			t.Errorf("hung worker %d still alive (state %s)", w, st[0])
		}
	}
}

// A picture that takes its worker down on every attempt (here the test
// kills every worker that picks it up) ends dead after max_attempts; the
// daemon never restarts because of it.
func TestPictureThatAlwaysKillsItsWorkerEndsDead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	daemonPID := d.cmd.Process.Pid
	pic := e.picture(t, "poison.jpg", 6000, 4000)
	j, err := e.client().Submit(context.Background(), imageapi.Request("web", pic))
	if err != nil {
		t.Fatal(err)
	}
	final := whileRunning(t, e, daemonPID, j.ID, func(workers []int) {
		for _, w := range workers {
			syscall.Kill(w, syscall.SIGKILL)
		}
	})
	if final.State != worker.StateDead || final.Attempts != 3 {
		t.Fatalf("poison picture: %s after %d attempts, want dead after 3", final.State, final.Attempts)
	}
	st, err := e.client().Status(context.Background())
	if err != nil || st.PID != daemonPID {
		t.Fatalf("daemon pid %v (err %v), want unchanged %d", st, err, daemonPID)
	}
	good := e.picture(t, "fine.jpg", 300, 200)
	if r := e.kilnctl(t, "submit", "-wait", "-pipeline", "web", good); r.code != 0 {
		t.Fatalf("daemon does not serve after the poison picture: %q", r.stderr)
	}
}

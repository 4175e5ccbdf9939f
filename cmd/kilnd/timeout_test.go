package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"kiln/api"
	"kiln/e2e/instance"
)

// kilnctlEnv runs kilnctl with extra environment variables, and says how
// long it took; one that hangs is killed after a minute.
func (e *env) kilnctlEnv(t *testing.T, extraEnv []string, args ...string) (result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kilnctlPath(), args...)
	cmd.Env = append(append(os.Environ(), "KILN_SOCKET="+e.socket), extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}, took
}

// A stopped kilnd (SIGSTOP: the kernel still takes connections and
// requests, nothing answers) does not hang kilnctl, nor the
// `systemctl reload` that runs `kilnctl reload`: each command gives up
// within its response timeout, from -timeout or $KILN_TIMEOUT, names the
// timeout and how to change it, and exits 3. Once kilnd runs again,
// kilnctl works as before.
func TestKilnctlGivesUpOnAStoppedKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	pic := e.picture(t, "p.jpg", 64, 48)
	if r := e.kilnctl(t, "status"); r.code != 0 {
		t.Fatalf("kilnctl status before the stop: exit %d %s", r.code, r.stderr)
	}
	pid := d.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-timeout", "500ms", "status"}, "response timeout of 500ms"},
		{[]string{"KILN_TIMEOUT=700ms"}, []string{"status"}, "response timeout of 700ms"},
		{[]string{"KILN_TIMEOUT=700ms"}, []string{"reload"}, "response timeout of 700ms"},
		{[]string{"KILN_TIMEOUT=1h"}, []string{"-timeout", "500ms", "jobs"}, "response timeout of 500ms"},
		{nil, []string{"-timeout", "500ms", "submit", "-pipeline", "web", pic}, "response timeout of 500ms"},
		{nil, []string{"-timeout", "500ms", "events"}, "response timeout of 500ms"},
	} {
		r, took := e.kilnctlEnv(t, c.env, c.args...)
		if r.code != 3 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "-timeout D or $KILN_TIMEOUT") {
			t.Errorf("%v kilnctl %v: exit %d, stderr %q; want 3, the %s named and how to change it", c.env, c.args, r.code, r.stderr, c.want)
		}
		// The timeout and a start of the binary, with room for a loaded
		// machine; without a timeout it would never return.
		if took > 10*time.Second {
			t.Errorf("%v kilnctl %v took %s to give up", c.env, c.args, took)
		}
	}

	resume()
	if r, _ := e.kilnctlEnv(t, []string{"KILN_TIMEOUT=30s"}, "status"); r.code != 0 {
		t.Fatalf("kilnctl status after SIGCONT: exit %d %s", r.code, r.stderr)
	}
}

// Commands that wait on purpose outlast the response timeout: submit
// -wait, whose answer kilnd holds until the job ends, and events -follow,
// whose stream goes on; only the start of each answer is bounded.
func TestKilnctlWaitsOutlastTheResponseTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t)
	if r := e.kilnctl(t, "pause", "images"); r.code != 0 {
		t.Fatalf("pause: %d %s", r.code, r.stderr)
	}
	const timeout = "1s"
	follow := exec.Command(kilnctlPath(), "-timeout", timeout, "events", "-follow", "-queue", "images", "-state", "succeeded", "-json")
	follow.Env = append(os.Environ(), "KILN_SOCKET="+e.socket)
	events, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	followErr := &instance.LogBuffer{}
	follow.Stderr = followErr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	followEnded := make(chan struct{})
	go func() { follow.Wait(); close(followEnded) }()
	t.Cleanup(func() { follow.Process.Kill(); <-followEnded })

	submit := exec.Command(kilnctlPath(), "-timeout", timeout, "submit", "-type", "noop", "-queue", "images", "-wait", "-json")
	submit.Env = follow.Env
	var subOut, subErr bytes.Buffer
	submit.Stdout, submit.Stderr = &subOut, &subErr
	start := time.Now()
	if err := submit.Start(); err != nil {
		t.Fatal(err)
	}
	submitted := make(chan error, 1)
	go func() { submitted <- submit.Wait() }()
	t.Cleanup(func() { submit.Process.Kill() })

	// The job waits in its paused queue; both commands must still be
	// waiting well past their timeout. Here the passing time is the
	// condition itself.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		jobs, err := e.client().List(ctx, "images", "queued", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 && time.Since(start) > 3*time.Second {
			break
		}
		select {
		case err := <-submitted:
			t.Fatalf("submit -wait ended while its job waited: %v, %s %s", err, subOut.String(), subErr.String())
		case <-ctx.Done():
			t.Fatal("the submitted job never showed up queued")
		case <-time.After(50 * time.Millisecond): // polling a condition
		}
	}
	select {
	case <-followEnded:
		t.Fatalf("events -follow ended while no event came: %s", followErr.String())
	default:
	}
	if strings.Contains(followErr.String(), "timeout") {
		t.Fatalf("events -follow gave up while no event came: %s", followErr.String())
	}

	if r := e.kilnctl(t, "resume", "images"); r.code != 0 {
		t.Fatalf("resume: %d %s", r.code, r.stderr)
	}
	select {
	case err := <-submitted:
		if err != nil || !strings.Contains(subOut.String(), `"state":"succeeded"`) {
			t.Fatalf("submit -wait: %v, stdout %s, stderr %s", err, subOut.String(), subErr.String())
		}
	case <-ctx.Done():
		t.Fatal("submit -wait did not end after its job ran")
	}
	var sub api.Submitted
	json.Unmarshal(subOut.Bytes(), &sub)

	got := make(chan api.Event, 1)
	go func() {
		sc := bufio.NewScanner(events)
		for sc.Scan() {
			var ev api.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Job == sub.ID {
				got <- ev
				return
			}
		}
	}()
	select {
	case ev := <-got:
		if ev.State != "succeeded" {
			t.Fatalf("event %+v, want the job's success", ev)
		}
	case <-ctx.Done():
		t.Fatalf("events -follow never printed job %s's success; stderr %s", sub.ID, followErr.String())
	}
	if strings.Contains(followErr.String(), "timeout") {
		t.Errorf("events -follow reported a timeout: %s", followErr.String())
	}
}

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
)

// readPidfile returns the PID written in the pidfile.
func readPidfile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pidfile holds %q", b)
	}
	return pid
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

// waitGone waits until pid has exited (gone, or a zombie awaiting its reaper).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}

func TestDaemonModeDetachesAndStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := startRsyslog(t, e.dir)
	e.writeConfig(t, e.configText(strings.Replace(syslogLogTable(r), `"syslog"`, `"auto"`, 1), ""))

	out, err := execKilnd(t, "-daemon", "-config", e.config)
	if err != nil {
		t.Fatalf("kilnd -daemon: %v: %s", err, out)
	}
	if out != "" {
		t.Errorf("kilnd -daemon printed %q on success", out)
	}
	pid := readPidfile(t, e.pid)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })

	// The parent returned only once the daemon was ready: it answers now.
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatalf("daemon not answering right after the parent exited: %v", err)
	}
	if st.PID != pid {
		t.Errorf("daemon says pid %d, pidfile says %d", st.PID, pid)
	}

	stat := procStat(t, pid)
	if sid := stat[3]; sid != itoa(pid) { // field 6: session ID
		t.Errorf("session id %s, want %d (setsid)", sid, pid)
	}
	if cwd, _ := os.Readlink("/proc/" + itoa(pid) + "/cwd"); cwd != "/" {
		t.Errorf("cwd %q, want /", cwd)
	}
	for fd := 0; fd <= 2; fd++ {
		if target, _ := os.Readlink("/proc/" + itoa(pid) + "/fd/" + itoa(fd)); target != "/dev/null" {
			t.Errorf("fd %d -> %q, want /dev/null", fd, target)
		}
	}
	status, _ := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if !strings.Contains(string(status), "Umask:\t0027") {
		t.Errorf("umask not 0027:\n%s", status)
	}
	r.waitLine(t, "|kilnd["+itoa(pid)+"]:|", "ready") // detached, auto logs to syslog

	pic := e.picture(t, "d.jpg", 300, 300)
	if res := e.kilnctl(t, "submit", "-wait", "-pipeline", "web", pic); res.code != 0 {
		t.Fatalf("submit to detached daemon: %q %q", res.stdout, res.stderr)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid)
	if _, err := os.Stat(e.pid); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after SIGTERM: %v", err)
	}
	r.waitLine(t, "|kilnd["+itoa(pid)+"]:|", "stopped")

	// The lock was released: a new daemon starts.
	out, err = execKilnd(t, "-daemon", "-config", e.config)
	if err != nil {
		t.Fatalf("restart after stop: %v: %s", err, out)
	}
	pid2 := readPidfile(t, e.pid)
	syscall.Kill(pid2, syscall.SIGTERM)
	waitGone(t, pid2)
}

func TestDaemonModeParentReportsChildFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := startRsyslog(t, e.dir)
	logTable := strings.Replace(syslogLogTable(r), `"syslog"`, `"auto"`, 1)

	// A config error: the child's message on the parent's stderr, exit 78.
	e.writeConfig(t, e.configText(logTable, "\n[pipelines.x]\nqueue = \"nope\"\n"))
	out, err := execKilnd(t, "-daemon", "-config", filepath.Base(e.config)+"-missing")
	if code := exitCode(err); code != 78 || !strings.Contains(out, "no such file") {
		t.Errorf("missing config: exit %d, %q", code, out)
	}
	out, err = execKilnd(t, "-daemon", "-config", e.config)
	if code := exitCode(err); code != 78 || !strings.Contains(out, e.config+":") || !strings.Contains(out, "pipelines.x.queue") {
		t.Errorf("bad config: exit %d, %q; want 78 naming %s and the key", code, out, e.config)
	}

	// Another instance holds the pidfile: refused, naming its PID.
	e.writeConfig(t, e.configText(logTable, ""))
	d := e.start(t)
	out, err = execKilnd(t, "-daemon", "-config", e.config)
	if code := exitCode(err); code != 69 || !strings.Contains(out, "pid "+itoa(d.cmd.Process.Pid)) {
		t.Errorf("second instance: exit %d, %q", code, out)
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/e2e/instance"
)

// rsyslog is a real rsyslogd listening on a private socket and writing
// what it receives to a file, one "severity|facility|tag|message" per line.
type rsyslog struct {
	socket string
	out    string
}

func startRsyslog(t *testing.T, dir string) *rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		bin = "/usr/sbin/rsyslogd"
	}
	r := &rsyslog{socket: filepath.Join(dir, "log.sock"), out: filepath.Join(dir, "syslog.out")}
	conf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q)
template(name="kilntest" type="string" string="%%syslogseverity-text%%|%%syslogfacility-text%%|%%syslogtag%%|%%msg%%\n")
*.* action(type="omfile" file=%q template="kilntest")
`, dir, r.socket, r.out)), 0o644)
	cmd := exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var stderr instance.LogBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd (install rsyslog): %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(r.socket); err == nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not create %s: %s", r.socket, stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}

// waitLine waits until rsyslogd has written a line containing every part.
func (r *rsyslog) waitLine(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(r.out)
		for _, line := range strings.Split(string(data), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no syslog line with %q; rsyslogd wrote:\n%s", parts, data)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
}

func syslogLogTable(r *rsyslog) string {
	return fmt.Sprintf("[log]\ntarget = \"syslog\"\nlevel = \"info\"\nsyslog_facility = \"local3\"\nsyslog_address = \"unixgram://%s\"\n", r.socket)
}

func TestLogsReachRsyslogWithIdentAndSeverity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := startRsyslog(t, e.dir)
	e.writeConfig(t, e.configText(syslogLogTable(r), ""))
	d := e.start(t)
	pid := itoa(d.cmd.Process.Pid)
	tag := "kilnd[" + pid + "]:"

	r.waitLine(t, "info|local3|"+tag+"|", "ready")
	good := e.picture(t, "g.jpg", 200, 100)
	res := e.kilnctl(t, "submit", "-wait", "-pipeline", "web", good)
	if res.code != 0 {
		t.Fatalf("submit: %q %q", res.stdout, res.stderr)
	}
	r.waitLine(t, "info|local3|"+tag+"|", "job succeeded")

	bad := filepath.Join(e.pics, "bad.jpg")
	os.WriteFile(bad, append([]byte{0xff, 0xd8, 0xff}, []byte("garbage")...), 0o644)
	e.kilnctl(t, "submit", "-wait", "-pipeline", "web", bad)
	line := r.waitLine(t, "err|local3|"+tag+"|", "job dead")
	if !strings.Contains(line, "bad.jpg") {
		t.Errorf("error line does not say which input: %q", line)
	}
	// Nothing went to stderr when syslog was chosen.
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r.waitLine(t, "info|local3|"+tag+"|", "stopped")
	if s := d.stderr.String(); s != "" {
		t.Errorf("kilnd wrote to stderr while logging to syslog: %q", s)
	}
}

package main

import (
	"strings"
	"syscall"
	"testing"
)

// kilnd speaks sd_notify to whatever NOTIFY_SOCKET names: here the test
// plays systemd's part.
func TestNotifyReadyReloadWatchdogStopping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t, "WATCHDOG_USEC=200000") // start() already saw READY=1

	d.notify.waitFor(t, "WATCHDOG=1")
	d.notify.waitFor(t, "WATCHDOG=1")

	d.cmd.Process.Signal(syscall.SIGHUP)
	m := d.notify.waitFor(t, "RELOADING=1")
	if !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	m = d.notify.waitFor(t, "READY=1")
	if !strings.Contains(m, "STATUS=0 running, 0 queued, 0 dead") {
		t.Errorf("READY=1 after reload without a status line: %q", m)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	d.notify.waitFor(t, "STOPPING=1")
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestReloadAppliesGoodConfigAndRefusesBadOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.start(t)
	pic := e.picture(t, "r.jpg", 300, 200)

	e.writeConfig(t, e.configText("", `
[pipelines.small]
queue = "images"
output_dir = "`+e.out+`/small"
[[pipelines.small.variants]]
name = "tiny"
width = 32
format = "png"
`))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.notify.waitFor(t, "READY=1")
	if r := e.kilnctl(t, "submit", "-wait", "-pipeline", "small", pic); r.code != 0 || !strings.Contains(r.stdout, "32x21") {
		t.Fatalf("new pipeline after reload: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	e.writeConfig(t, e.configText("", "\n[pipelines.broken]\noutput_dir = 7\n"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.notify.waitFor(t, "READY=1")
	d.waitLog(t, "reload refused")
	d.waitLog(t, "pipelines.broken.output_dir")
	if r := e.kilnctl(t, "submit", "-wait", "-pipeline", "small", pic); r.code != 0 {
		t.Fatalf("old config stopped serving after a bad reload: %q %q", r.stdout, r.stderr)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// silentSocket is a socket whose listener never accepts: the kernel takes
// the connection and the request, and no answer ever comes, as with a
// kilnd that is stopped (SIGSTOP) or hung.
func silentSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return sock
}

// kilnctl gives up on a daemon that does not answer, within the response
// timeout, says which timeout ran out and how to change it, and exits 3;
// the flag comes before $KILN_TIMEOUT, and $KILN_TIMEOUT before the
// default.
func TestSilentDaemonTimesOut(t *testing.T) {
	sock := silentSocket(t)
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"-timeout", "200ms"}, "response timeout of 200ms"},
		{"300ms", nil, "response timeout of 300ms"},
		{"1h", []string{"-timeout", "250ms"}, "response timeout of 250ms"},
	} {
		t.Setenv("KILN_TIMEOUT", c.env)
		for _, cmd := range [][]string{{"status"}, {"reload"}, {"job", "01HZX"}, {"submit", "-type", "noop"}} {
			args := append(append([]string{"-socket", sock}, c.args...), cmd...)
			var out, errOut bytes.Buffer
			start := time.Now()
			code := run(args, &out, &errOut)
			took := time.Since(start)
			if code != exitUnreachable || !strings.Contains(errOut.String(), c.want) || !strings.Contains(errOut.String(), "-timeout D or $KILN_TIMEOUT") {
				t.Errorf("KILN_TIMEOUT=%q kilnctl %v: exit %d, stderr %q; want 3 naming the %s and how to change it", c.env, args, code, errOut.String(), c.want)
			}
			if took > 5*time.Second {
				t.Errorf("kilnctl %v took %s to give up", args, took)
			}
		}
	}
}

// A stream (submit of files, events) is bounded until its answer begins.
func TestSilentDaemonTimesOutStreams(t *testing.T) {
	t.Parallel()
	sock := silentSocket(t)
	pic := filepath.Join(t.TempDir(), "a.jpg")
	for _, cmd := range [][]string{{"submit", "-pipeline", "web", pic}, {"events"}} {
		args := append([]string{"-socket", sock, "-timeout", "200ms"}, cmd...)
		var out, errOut bytes.Buffer
		start := time.Now()
		code := run(args, &out, &errOut)
		if code != exitUnreachable || !strings.Contains(errOut.String(), "response timeout of 200ms") {
			t.Errorf("kilnctl %v: exit %d, stderr %q; want 3 naming the response timeout", args, code, errOut.String())
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("kilnctl %v took %s to give up", args, took)
		}
	}
}

// Bad timeouts are command-line errors.
func TestBadTimeouts(t *testing.T) {
	for _, c := range []struct {
		env, envValue string
		args          []string
	}{
		{"KILN_TIMEOUT", "soon", []string{"status"}},
		{"KILN_CONNECT_TIMEOUT", "-1s", []string{"status"}},
		{"", "", []string{"-timeout", "-3s", "status"}},
		{"", "", []string{"-connect-timeout", "x", "status"}},
	} {
		if c.env != "" {
			t.Setenv(c.env, c.envValue)
		}
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != exitUsage || errOut.Len() == 0 {
			t.Errorf("%s=%q kilnctl %v: exit %d, stderr %q; want 2 and a message", c.env, c.envValue, c.args, code, errOut.String())
		}
		if c.env != "" {
			t.Setenv(c.env, "")
		}
	}
}

package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	godaemon "github.com/sevlyar/go-daemon"

	"kiln/daemon/sdnotify"
)

// envBaseDir carries the directory kilnd was started in across the re-exec,
// since the detached child runs in /.
const envBaseDir = "KILN_BASE_DIR"

// readyTimeout bounds how long a -daemon parent waits for its child.
const readyTimeout = 90 * time.Second

// isDetachedChild reports whether this process is the re-executed child of
// a -daemon start.
func isDetachedChild() bool { return godaemon.WasReborn() }

func newDetachContext(args []string, env []string) *godaemon.Context {
	return &godaemon.Context{WorkDir: "/", Umask: 0o027, Args: args, Env: env}
}

// detachChild finishes the child's side of the re-exec: stdin from
// /dev/null, umask set. go-daemon has already started it in a new session
// with cwd / and stdout/stderr on /dev/null.
func detachChild() error {
	_, err := newDetachContext(nil, nil).Reborn()
	return err
}

// detachParent starts the daemon as a detached child and waits until it is
// ready (exit 0) or has failed (its error on stderr, non-zero). It lends the
// child a notify socket, so the child reports readiness exactly as it does to
// systemd.
func detachParent(args []string, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "kilnd-start-")
	if err != nil {
		fmt.Fprintf(stderr, "kilnd: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	notify, err := sdnotify.Listen(filepath.Join(dir, "notify"))
	if err != nil {
		fmt.Fprintf(stderr, "kilnd: %v\n", err)
		return 1
	}
	defer notify.Close()

	cwd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "kilnd: %v\n", err)
		return 1
	}
	env := append(withoutEnv(os.Environ(), "NOTIFY_SOCKET", envBaseDir), notify.Env(), envBaseDir+"="+cwd)
	child, err := newDetachContext(absConfigArgs(args, cwd), env).Reborn()
	if err != nil {
		fmt.Fprintf(stderr, "kilnd: start detached child: %v\n", err)
		return 1
	}

	exited := make(chan int, 1)
	go func() {
		st, err := child.Wait()
		if err != nil {
			exited <- 1
			return
		}
		exited <- st.ExitCode()
	}()
	ready := make(chan error, 1)
	go func() { ready <- notify.WaitReady(readyTimeout) }()

	select {
	case err := <-ready:
		if err == nil {
			return 0
		}
		fmt.Fprintf(stderr, "kilnd: child pid %d not ready after %s: %v\n", child.Pid, readyTimeout, err)
		return 1
	case code := <-exited:
		// The child may have sent its reason just before exiting.
		notify.Expire(100 * time.Millisecond)
		if err := <-ready; err == nil && code == 0 {
			return 0
		}
		reason := notify.Status()
		if reason == "" {
			reason = "exited before it was ready"
		}
		fmt.Fprintf(stderr, "kilnd: %s\n", reason)
		if code == 0 {
			code = 1
		}
		return code
	}
}

// absConfigArgs makes a relative -config path absolute for a child that
// will run in /.
func absConfigArgs(args []string, cwd string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		for _, flag := range []string{"-config", "--config"} {
			if a == flag && i+1 < len(out) && !filepath.IsAbs(out[i+1]) {
				out[i+1] = filepath.Join(cwd, out[i+1])
			}
			if v, ok := strings.CutPrefix(a, flag+"="); ok && !filepath.IsAbs(v) {
				out[i] = flag + "=" + filepath.Join(cwd, v)
			}
		}
	}
	return out
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

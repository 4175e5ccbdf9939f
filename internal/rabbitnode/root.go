package rabbitnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RootEnv names the environment variable that makes every node of the
// process run from another Debian root (tools/trixie-root makes one with
// Debian 13's RabbitMQ 4.0) instead of the host's rabbitmq-server. Unset
// or empty, the nodes are the host's.
const RootEnv = "KILN_TEST_RABBITMQ_ROOT"

// Root is the Debian root the nodes run from, "" for the host.
func Root() string {
	if root := os.Getenv(RootEnv); root != "" {
		return filepath.Clean(root)
	}
	return ""
}

// enterRoot is run by sh, in a mount namespace of the process's own
// (unshare --mount), before it becomes the node's program:
//
//	$1 the root, $2 the group's directory, then the program and its args
//
// /proc and /dev are mounted into the root and the group's directory is
// bound at the same path inside it, so that the paths in the node's
// environment, the pidfile and the log mean the same inside and out.
//
// Every command (epmd, each rabbitmq-server, each rabbitmqctl) gets a
// namespace of its own rather than all of them sharing one /proc mounted
// into the root for good. The mounts then exist only for the processes
// that use them and vanish with the last of them, however the test
// process ends: no lock or count is kept across the test processes that
// `go test ./...` runs in parallel on the same root, and a killed run
// cannot leave a /dev bound into the root that a later `rm -rf` of the
// root (make clean) would walk into and empty. Nothing is left to clean
// but the empty mount point directories, which Close removes.
const enterRoot = `set -e
root=$1 dir=$2
shift 2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --bind "$dir" "$root$dir"
exec chroot "$root" "$@"`

// availableInRoot reports whether nodes can run from root.
func availableInRoot(root string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%s=%s: not an absolute path", RootEnv, root)
	}
	if _, err := os.Stat(filepath.Join(root, binDir, "rabbitmq-server")); err != nil {
		return fmt.Errorf("%s=%s: no rabbitmq-server in the root (tools/trixie-root makes one): %w", RootEnv, root, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s=%s: running nodes in the root needs root (mount and chroot)", RootEnv, root)
	}
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s=%s: find %s: %w", RootEnv, root, tool, err)
		}
	}
	return nil
}

// command is program (a path as the node sees it) with args, run on the
// host or, for a group in a root, inside that root.
func (g *Group) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	if g.root == "" {
		return exec.CommandContext(ctx, program, args...)
	}
	return exec.CommandContext(ctx, "unshare", append([]string{
		"--mount", "--propagation", "private",
		"sh", "-c", enterRoot, "kiln-rabbitmq-root", g.root, g.dir, program,
	}, args...)...)
}

// makeMountPoint creates the directory inside the root that the group's
// directory is bound to, and remembers which directories it created so
// that Close leaves the root as it found it.
func (g *Group) makeMountPoint() error {
	target := filepath.Join(g.root, g.dir)
	var created []string
	for d := target; d != g.root && d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("create mount point %s in root %s: %w", g.dir, g.root, err)
	}
	g.mountPoints = created
	return nil
}

// removeMountPoint removes what makeMountPoint created, deepest first. It
// is empty once no process of the group's namespaces is left.
func (g *Group) removeMountPoint() {
	for _, d := range g.mountPoints {
		os.Remove(d)
	}
	g.mountPoints = nil
}

// Version is the RabbitMQ version the node reports to an AMQP client in
// its connection's server properties, e.g. "4.0.5".
func (n *Node) Version() (string, error) {
	conn, err := amqp.DialConfig(n.URL(""), amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		return "", fmt.Errorf("version of node %s: connect: %w", n.Name, err)
	}
	defer conn.Close()
	v, ok := conn.Properties["version"].(string)
	if !ok || v == "" {
		return "", fmt.Errorf("version of node %s: no version in the server properties %v", n.Name, conn.Properties)
	}
	return v, nil
}

// Describe names the broker the node runs, for a test's log: version and,
// when it runs from another root, that root.
func (n *Node) Describe() string {
	v, err := n.Version()
	if err != nil {
		v = "of unknown version (" + err.Error() + ")"
	}
	where := "the host's rabbitmq-server"
	if n.group.root != "" {
		where = "the root " + n.group.root
	}
	return fmt.Sprintf("RabbitMQ %s, node %s from %s", v, n.Name, where)
}

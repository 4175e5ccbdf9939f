// Package rabbitnode starts private RabbitMQ nodes from Debian's
// rabbitmq-server for tests and benchmarks: each node has its own HOME
// (and so its own Erlang cookie file), node name, AMQP and distribution
// ports, mnesia and log directories, and the nodes of one Group share a
// private epmd on a port of their own, so nothing touches a system broker
// or another run's nodes. With KILN_TEST_RABBITMQ_ROOT set (RootEnv) the
// nodes, their epmd and rabbitmqctl are those of another Debian root, run
// chrooted into it.
package rabbitnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries are called from here directly: the /usr/sbin/rabbitmq-*
// wrappers switch HOME to the rabbitmq user's, and then the Erlang cookie
// of the node and of rabbitmqctl differ.
const binDir = "/usr/lib/rabbitmq/bin"

// BootTimeout bounds how long a node may take to accept connections.
const BootTimeout = 90 * time.Second

// Group is a set of nodes that share one private epmd and one Erlang
// cookie, so that they can be clustered.
type Group struct {
	dir      string
	root     string // the Debian root the nodes run from; "" for the host
	cookie   string
	epmdPort int
	epmd     *exec.Cmd

	// mountPoints are the directories of the root created to bind dir to.
	mountPoints []string

	mu    sync.Mutex
	nodes []*Node
}

// Node is one RabbitMQ node of a Group.
type Node struct {
	group    *Group
	Name     string // Erlang node name, e.g. kiln1@localhost
	AMQPPort int
	DistPort int
	dir      string
	env      []string

	mu     sync.Mutex
	server *exec.Cmd
	exited chan struct{}
}

// Available reports whether Debian's rabbitmq-server is installed, or,
// with RootEnv set, whether nodes can run from that root.
func Available() error {
	if root := Root(); root != "" {
		return availableInRoot(root)
	}
	if _, err := os.Stat(filepath.Join(binDir, "rabbitmq-server")); err != nil {
		return fmt.Errorf("rabbitmq-server is not installed (apt-get install rabbitmq-server): %w", err)
	}
	return nil
}

// NewGroup makes a group under dir and starts its epmd.
func NewGroup(dir string) (*Group, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	// An absolute directory: in a root it is bound at the same path.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq group directory %s: %w", dir, err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	g := &Group{dir: dir, root: Root(), cookie: fmt.Sprintf("KILNTEST%d%d", port, time.Now().UnixNano()), epmdPort: port}
	// The root's own epmd in a root: its nodes and rabbitmqctl register
	// and look up there with the root's Erlang.
	epmd := "/usr/bin/epmd"
	if g.root == "" {
		if epmd, err = exec.LookPath("epmd"); err != nil {
			return nil, fmt.Errorf("find epmd (part of erlang-base): %w", err)
		}
	} else {
		if _, err := os.Stat(filepath.Join(g.root, epmd)); err != nil {
			return nil, fmt.Errorf("find epmd in root %s: %w", g.root, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create rabbitmq group directory: %w", err)
		}
		if err := g.makeMountPoint(); err != nil {
			return nil, err
		}
	}
	// Started here, in the foreground, so that Close stops exactly this
	// process; a node would otherwise start a daemonised epmd that
	// outlives it.
	g.epmd = g.command(context.Background(), epmd, "-port", fmt.Sprint(port), "-address", "127.0.0.1")
	g.epmd.Env = append(cleanEnv(), "ERL_EPMD_ADDRESS=127.0.0.1")
	if err := g.epmd.Start(); err != nil {
		g.removeMountPoint()
		return nil, fmt.Errorf("start epmd on port %d%s: %w", port, g.inRoot(), err)
	}
	if err := waitListening(port, 10*time.Second); err != nil {
		g.epmd.Process.Kill()
		g.epmd.Wait()
		g.removeMountPoint()
		return nil, fmt.Errorf("epmd on port %d%s: %w", port, g.inRoot(), err)
	}
	return g, nil
}

// inRoot is " in root ROOT" for a group in a root, for error messages.
func (g *Group) inRoot() string {
	if g.root == "" {
		return ""
	}
	return " in root " + g.root
}

// Start starts a new node named name@localhost and returns once it
// accepts AMQP connections.
func (g *Group) Start(name string) (*Node, error) {
	// A port free when it is picked may be taken before the node binds
	// it, by another test's node or an outgoing connection: a node that
	// meets a taken port is started again on new ones.
	for try := 1; ; try++ {
		n, err := g.start(name)
		if err == nil || try == 3 || !portTaken(filepath.Join(g.dir, name)) {
			return n, err
		}
	}
}

// portTaken reports whether the node in dir stopped on a port in use.
func portTaken(dir string) bool {
	out, err := os.ReadFile(filepath.Join(dir, "server.out"))
	return err == nil && (bytes.Contains(out, []byte("dist_port_already_used")) || bytes.Contains(out, []byte("eaddrinuse")))
}

func (g *Group) start(name string) (*Node, error) {
	ports := make([]int, 2)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	n := &Node{group: g, Name: name + "@localhost", AMQPPort: ports[0], DistPort: ports[1], dir: filepath.Join(g.dir, name)}
	os.Remove(n.LogPath()) // a try before this one's
	home := filepath.Join(n.dir, "home")
	for _, d := range []string{home, filepath.Join(n.dir, "mnesia"), filepath.Join(n.dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create node directory: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte(g.cookie), 0o400); err != nil {
		return nil, fmt.Errorf("write erlang cookie: %w", err)
	}
	// guest may log in from 127.0.0.1 only by default; the nodes listen
	// there alone anyway.
	conf := filepath.Join(n.dir, "rabbitmq.conf")
	files := map[string]string{
		conf:                                    "loopback_users = none\n",
		filepath.Join(n.dir, "enabled_plugins"): "[].\n",
		filepath.Join(n.dir, "rabbitmq-env.conf"): "",
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	n.env = append(cleanEnv(),
		"HOME="+home,
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", n.AMQPPort),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", n.DistPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"RABBITMQ_PID_FILE="+n.pidfile(),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(n.dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, "enabled_plugins"),
		fmt.Sprintf("ERL_EPMD_PORT=%d", g.epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	if err := n.boot(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.nodes = append(g.nodes, n)
	g.mu.Unlock()
	return n, nil
}

// cleanEnv is this process's environment without what would make the node
// believe systemd supervises it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (n *Node) pidfile() string { return filepath.Join(n.dir, "rabbit.pid") }

// LogPath is the file the node's console output goes to.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "server.out") }

// boot starts the server process and waits until it is ready.
func (n *Node) boot() error {
	os.Remove(n.pidfile())
	out, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open node log: %w", err)
	}
	cmd := n.group.command(context.Background(), filepath.Join(binDir, "rabbitmq-server"))
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start rabbitmq-server %s%s: %w", n.Name, n.group.inRoot(), err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(exited)
	}()
	n.mu.Lock()
	n.server, n.exited = cmd, exited
	n.mu.Unlock()

	// rabbitmqctl wait returns once the node has started its applications;
	// `rabbitmq-diagnostics ping` answers seconds before AMQP is served.
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	// A server that exits while starting will never write its pidfile.
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := n.group.command(ctx, filepath.Join(binDir, "rabbitmqctl"), "wait", "--timeout", fmt.Sprint(int(BootTimeout.Seconds())), n.pidfile())
	wait.Env = n.env
	if msg, err := wait.CombinedOutput(); err != nil {
		n.Kill()
		return fmt.Errorf("node %s%s did not start: rabbitmqctl wait: %v: %s (see %s)", n.Name, n.group.inRoot(), err, strings.TrimSpace(string(msg)), n.LogPath())
	}
	if err := waitListening(n.AMQPPort, BootTimeout); err != nil {
		n.Kill()
		return fmt.Errorf("node %s: AMQP port %d: %w (see %s)", n.Name, n.AMQPPort, err, n.LogPath())
	}
	return nil
}

// URL is the AMQP URL of the node for vhost ("/" when empty) as guest.
func (n *Node) URL(vhost string) string {
	if vhost == "" || vhost == "/" {
		return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.AMQPPort)
	}
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", n.AMQPPort, vhost)
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (n *Node) Ctl(args ...string) (string, error) {
	return n.tool("rabbitmqctl", args...)
}

// Queues runs rabbitmq-queues against the node.
func (n *Node) Queues(args ...string) (string, error) {
	return n.tool("rabbitmq-queues", args...)
}

func (n *Node) tool(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := n.group.command(ctx, filepath.Join(binDir, name), append([]string{"-n", n.Name}, args...)...)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s on %s%s: %v: %s", name, strings.Join(args, " "), n.Name, n.group.inRoot(), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Join makes n a member of the cluster that other belongs to.
func (n *Node) Join(other *Node) error {
	for _, step := range [][]string{{"stop_app"}, {"join_cluster", other.Name}, {"start_app"}} {
		if _, err := n.Ctl(step...); err != nil {
			return err
		}
	}
	_, err := n.Ctl("await_startup")
	return err
}

// Kill stops the node with SIGKILL, as a crash would, and waits for the
// process to be gone.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, exited := n.server, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	n.killProcesses(cmd)
	<-exited
}

// killProcesses kills the Erlang VM, whose PID the node writes to its
// pidfile, and the rabbitmq-server script that started it in the
// background: killing the script alone would leave the node running.
func (n *Node) killProcesses(cmd *exec.Cmd) {
	if data, err := os.ReadFile(n.pidfile()); err == nil {
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(string(data)), &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
			// Wait for the VM to be gone, so that its ports are free for a
			// restart.
			for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond) // polling a dying process
			}
		}
	}
	cmd.Process.Kill()
}

// Stop shuts the node down cleanly, or kills it when that fails.
func (n *Node) Stop() {
	n.mu.Lock()
	cmd, exited := n.server, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	if _, err := n.Ctl("stop"); err != nil {
		n.killProcesses(cmd)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		n.killProcesses(cmd)
		<-exited
	}
}

// Restart boots a node again on its own directories and ports (after Kill
// or Stop).
func (n *Node) Restart() error {
	return n.boot()
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Close stops every node of the group and its epmd.
func (g *Group) Close() {
	g.mu.Lock()
	nodes := g.nodes
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Stop()
		}()
	}
	wg.Wait()
	if g.epmd != nil {
		g.epmd.Process.Kill()
		g.epmd.Wait()
	}
	g.removeMountPoint()
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now. It
// is drawn below the kernel's ephemeral range (32768 and up on Linux),
// which the port 0 of a listener would give: a port from that range may
// become the local end of any outgoing connection before the node binds
// it.
func FreePort() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %s: %w", within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a port that is coming up
	}
}

// ErrNoNodes is returned by Cluster for a size below one.
var ErrNoNodes = errors.New("a cluster needs at least one node")

// Cluster starts size nodes named prefix1, prefix2, ... and joins every
// one after the first to the first, so that quorum queues declared later
// have a member on each.
func (g *Group) Cluster(prefix string, size int) ([]*Node, error) {
	if size < 1 {
		return nil, ErrNoNodes
	}
	nodes := make([]*Node, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = g.Start(fmt.Sprintf("%s%d", prefix, i+1))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, n := range nodes[1:] {
		if err := n.Join(nodes[0]); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

func mkdirShort() (string, error) { return os.MkdirTemp("", "kiln-rmq-") }

func removeAll(dir string) { os.RemoveAll(dir) }

package rabbitnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three RabbitMQ nodes")
	}
	nodes := ClusterT(t, 3)
	out, err := nodes[2].Ctl("cluster_status", "--formatter", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !strings.Contains(out, n.Name) {
			t.Errorf("cluster status from %s does not list %s: %s", nodes[2].Name, n.Name, out)
		}
	}
}

// TestVersion checks the version a node reports over AMQP against the
// one its own rabbitmqctl prints.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node")
	}
	n := StartT(t)
	v, err := n.Version()
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.Ctl("version")
	if err != nil {
		t.Fatal(err)
	}
	if ctl := strings.TrimSpace(out); ctl != v {
		t.Errorf("node %s reports version %q over AMQP, rabbitmqctl version prints %q", n.Name, v, ctl)
	}
}

// TestRootLeavesNoMounts checks that nodes run from a RootEnv root mount
// nothing that the host sees, while they run and after: a later rm -rf of
// the root must not reach into the host's /proc or /dev.
func TestRootLeavesNoMounts(t *testing.T) {
	root := Root()
	if root == "" {
		t.Skip("nodes run from the host; set " + RootEnv)
	}
	if testing.Short() {
		t.Skip("starts a RabbitMQ node")
	}
	n := StartT(t)
	if _, err := n.Ctl("status"); err != nil {
		t.Fatal(err)
	}
	requireNoMountsUnder(t, root)
	n.group.Close()
	requireNoMountsUnder(t, root)
	if _, err := os.Stat(filepath.Join(root, n.group.dir)); !os.IsNotExist(err) {
		t.Errorf("mount point %s left in root %s after close: %v", n.group.dir, root, err)
	}
}

func requireNoMountsUnder(t *testing.T, root string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		// The fifth field is the mount point.
		if f := strings.Fields(line); len(f) > 4 && (f[4] == root || strings.HasPrefix(f[4], root+"/")) {
			t.Errorf("mount visible on the host under root %s: %s", root, line)
		}
	}
}

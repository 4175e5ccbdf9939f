package rabbitnode

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// StartT starts one private node for a test and stops it when the test
// ends. The test is skipped, saying why, when rabbitmq-server is not
// installed; a node that fails to start fails the test, and so does a
// RootEnv root that cannot be used: a run asked for that broker must not
// pass by skipping. The test's log names the broker's version.
func StartT(t testing.TB) *Node {
	t.Helper()
	g := GroupT(t)
	n, err := g.Start("kiln")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(n.Describe())
	return n
}

// ClusterT starts a cluster of size nodes for a test and stops it when the
// test ends.
func ClusterT(t testing.TB, size int) []*Node {
	t.Helper()
	g := GroupT(t)
	nodes, err := g.Cluster("kiln", size)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(nodes[0].Describe())
	return nodes
}

// GroupT makes a group in the test's temporary directory, closed when the
// test ends.
func GroupT(t testing.TB) *Group {
	t.Helper()
	if err := Available(); err != nil {
		if Root() != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// A short directory: Erlang's distribution and rabbitmqctl choke on
	// very long paths in some places, and t.TempDir's are long.
	dir, err := mkdirShort()
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGroup(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Close()
		if !t.Failed() {
			removeAll(dir)
		} else {
			t.Logf("RabbitMQ node directories kept in %s", dir)
		}
	})
	return g
}

// ChannelT is a channel of a connection of the test's own to n, as an
// application's, closed when the test ends.
func ChannelT(t testing.TB, n *Node) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(n.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

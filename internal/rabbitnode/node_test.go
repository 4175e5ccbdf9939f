package rabbitnode

import (
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

// Package privatebroker starts a RabbitMQ node of the benchmark's own
// (kiln/internal/rabbitnode: its own ports, directories and cookie) and
// writes the [broker] table that points a kilnd at it.
package privatebroker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"kiln/internal/rabbitnode"
)

// Start starts a private RabbitMQ node under dir.
func Start(dir string) (*rabbitnode.Group, *rabbitnode.Node, error) {
	g, err := rabbitnode.NewGroup(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq node group in %s: %w", dir, err)
	}
	n, err := g.Start("bench")
	if err != nil {
		g.Close()
		return nil, nil, fmt.Errorf("%w (the bench targets of the Makefile install rabbitmq-server)", err)
	}
	return g, n, nil
}

// KilndTable writes the guest password to a file in dir, as kilnd wants
// it (out of the config, not readable by others), and returns the [broker]
// table of a kilnd on node's default vhost.
func KilndTable(dir string, node *rabbitnode.Node) (string, error) {
	pw := filepath.Join(dir, "broker.password")
	if err := os.WriteFile(pw, []byte("guest\n"), 0o600); err != nil {
		return "", fmt.Errorf("write broker password file: %w", err)
	}
	url := strings.Replace(node.URL(""), "guest:guest@", "guest@", 1)
	return fmt.Sprintf(`[broker]
backend = "rabbitmq"
urls = [%q]
password_file = %q
`, url, pw), nil
}

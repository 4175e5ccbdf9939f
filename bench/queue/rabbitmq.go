package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitSystem is Debian's rabbitmq-server, started here with its own
// directories, ports and Erlang port mapper, and a quorum queue used the
// durable way: persistent messages, publisher confirms, manual acks after the
// (no-op) work, prefetch equal to the consumer concurrency.
type rabbitSystem struct {
	dir    string
	env    []string
	server *exec.Cmd
	conn   *amqp.Connection

	pubs chan *amqp.Channel // one confirm-mode channel per concurrent publisher

	acked atomic.Int64
	wg    sync.WaitGroup
}

const rabbitQueue = "bench"

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func newRabbit(dir string, consumers int) (system, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	amqpPort, distPort, epmdPort := ports[0], ports[1], ports[2]
	for _, d := range []string{"home", "mnesia", "log"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	conf := filepath.Join(dir, "rabbitmq.conf")
	os.WriteFile(conf, []byte("loopback_users = none\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rabbitmq-env.conf"), nil, 0o644)
	node := fmt.Sprintf("bench%d@localhost", amqpPort)
	r := &rabbitSystem{dir: dir, env: append(os.Environ(),
		"HOME="+filepath.Join(dir, "home"),
		"RABBITMQ_NODENAME="+node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", amqpPort),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbit.pid"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		fmt.Sprintf("ERL_EPMD_PORT=%d", epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)}
	r.server = exec.Command("/usr/lib/rabbitmq/bin/rabbitmq-server")
	r.server.Env = r.env
	logf, _ := os.Create(filepath.Join(dir, "server.out"))
	r.server.Stdout, r.server.Stderr = logf, logf
	if err := r.server.Start(); err != nil {
		return nil, fmt.Errorf("start rabbitmq-server (apt-get install rabbitmq-server): %w", err)
	}
	url := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := amqp.Dial(url)
		if err == nil {
			r.conn = conn
			break
		}
		if time.Now().After(deadline) {
			r.stopServer()
			return nil, fmt.Errorf("rabbitmq not accepting connections after 60s: %w (see %s)", err, filepath.Join(dir, "server.out"))
		}
		time.Sleep(200 * time.Millisecond) // waiting for the broker to boot
	}

	ch, err := r.conn.Channel()
	if err != nil {
		return nil, err
	}
	if _, err := ch.QueueDeclare(rabbitQueue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return nil, fmt.Errorf("declare quorum queue: %w", err)
	}
	ch.Close()

	r.pubs = make(chan *amqp.Channel, 64)
	for i := 0; i < 64; i++ {
		pc, err := r.conn.Channel()
		if err != nil {
			return nil, err
		}
		if err := pc.Confirm(false); err != nil {
			return nil, err
		}
		r.pubs <- pc
	}

	// Consumers: a few channels sharing the prefetch, each message acked
	// after its (no-op) handler ran.
	const consumerChannels = 4
	for i := 0; i < consumerChannels; i++ {
		cc, err := r.conn.Channel()
		if err != nil {
			return nil, err
		}
		if err := cc.Qos(consumers/consumerChannels, 0, false); err != nil {
			return nil, err
		}
		deliveries, err := cc.Consume(rabbitQueue, "", false, false, false, false, nil)
		if err != nil {
			return nil, err
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for d := range deliveries {
				if err := d.Ack(false); err != nil {
					return
				}
				r.acked.Add(1)
			}
		}()
	}
	return r, nil
}

func (r *rabbitSystem) name() string { return "rabbitmq" }

func (r *rabbitSystem) submit(ctx context.Context, payload []byte) error {
	ch := <-r.pubs
	defer func() { r.pubs <- ch }()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", rabbitQueue, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: payload,
	})
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("publish nacked by the broker")
	}
	return nil
}

func (r *rabbitSystem) waitDone(ctx context.Context, n int) error {
	for r.acked.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (r *rabbitSystem) close() error {
	r.conn.Close()
	r.wg.Wait()
	r.stopServer()
	return nil
}

func (r *rabbitSystem) stopServer() {
	ctl := exec.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", "stop")
	ctl.Env = r.env
	if err := ctl.Run(); err != nil {
		r.server.Process.Kill()
	}
	r.server.Wait()
	// The private epmd outlives the node; it listens on our port only.
	exec.Command("pkill", "-f", "epmd.*"+envValue(r.env, "ERL_EPMD_PORT")).Run()
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if len(env[i]) > len(key) && env[i][:len(key)+1] == key+"=" {
			return env[i][len(key)+1:]
		}
	}
	return ""
}

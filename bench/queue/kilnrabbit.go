package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/api"
	"kiln/bench/internal/kilnload"
	"kiln/bench/internal/privatebroker"
	"kiln/bench/internal/procstat"
	"kiln/e2e/instance"
	"kiln/internal/rabbitnode"
	"kiln/worker"
)

// kilndRabbitSystem is kilnd on the rabbitmq backend, end to end through
// its socket: each job submitted as an application would (one request per
// job, or one batch request per batch), published with confirms by kilnd,
// consumed by its workers, acked after the (no-op) job. The broker is a
// private node, as for the raw RabbitMQ figure beside it.
//
// With more than one host, that many kilnd processes share the broker, as
// the hosts of a deployment do: each with its own state directory, socket
// and config, all with the same broker, prefix and queue. Jobs are
// submitted through the first host only, as an application that talks to
// one host does, and the broker spreads them over the consumers of all.
type kilndRabbitSystem struct {
	group    *rabbitnode.Group
	node     *rabbitnode.Node
	brokerVM int
	hosts    []*instance.Instance
	client   *api.Client // host 1's, which every submit goes to
	batch    int
}

func newKilndRabbit(dir string, consumers, batch, hosts int) (system, error) {
	g, node, err := privatebroker.Start(filepath.Join(dir, "broker"))
	if err != nil {
		return nil, err
	}
	k := &kilndRabbitSystem{group: g, node: node, batch: batch}
	if k.brokerVM, err = procstat.BrokerVM(); err != nil {
		g.Close()
		return nil, err
	}
	broker, err := privatebroker.KilndTable(dir, node)
	if err != nil {
		g.Close()
		return nil, err
	}
	config := fmt.Sprintf("[queues.bench]\nconcurrency = %d\n\n%s", consumers, broker)
	// One after another: each returns once READY=1, its queues declared
	// and consumed, so the hosts meet a broker that is already set up.
	for h := 1; h <= hosts; h++ {
		hostConfig := config
		if h > 1 && *lightHosts {
			// The broker table is the config's last: this key is its.
			hostConfig += "keep_records = false\n"
		}
		if err := k.startHost(filepath.Join(dir, fmt.Sprintf("host%d", h)), h, hostConfig); err != nil {
			k.close()
			return nil, err
		}
	}
	k.client = k.hosts[0].Client()
	return k, nil
}

// startHost prepares and starts kilnd host number h in dir.
func (k *kilndRabbitSystem) startHost(dir string, h int, config string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create kilnd host %d directory: %w", h, err)
	}
	kiln, err := instance.Prepare(dir, config)
	if err != nil {
		return fmt.Errorf("prepare kilnd host %d in %s: %w", h, dir, err)
	}
	if *kilndProfile != "" {
		pdir := filepath.Join(*kilndProfile, "kiln-rabbitmq", fmt.Sprintf("host%d", h))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return fmt.Errorf("create profile directory for kilnd host %d: %w", h, err)
		}
		kiln.Env = []string{"KILND_PROFILE_DIR=" + pdir}
	}
	if err := kiln.Start(*kilndBin, os.Stderr); err != nil {
		return fmt.Errorf("start kilnd host %d: %w (make build)", h, err)
	}
	k.hosts = append(k.hosts, kiln)
	return nil
}

func (k *kilndRabbitSystem) name() string {
	if k.batch > 1 {
		return "kiln-rabbitmq-batch"
	}
	return "kiln-rabbitmq"
}

func (k *kilndRabbitSystem) servers() servers {
	return servers{brokerVM: k.brokerVM, kilnds: k.hosts}
}

func (k *kilndRabbitSystem) batchSize() int { return k.batch }

func (k *kilndRabbitSystem) submit(ctx context.Context, payload []byte) error {
	_, err := k.client.Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(payload)})
	return err
}

func (k *kilndRabbitSystem) submitBatch(ctx context.Context, payloads [][]byte) error {
	reqs := make([]api.SubmitRequest, len(payloads))
	for i, p := range payloads {
		reqs[i] = api.SubmitRequest{Type: worker.NoopType, Queue: "bench", Payload: json.RawMessage(p)}
	}
	_, err := k.client.SubmitBatch(ctx, reqs)
	return err
}

// waitDone asks host 1 alone, whichever hosts ran the jobs: every kilnd
// keeps one record per job ID, built from its own outcomes and from the
// records stream that every host's go to, so its succeeded count is of
// distinct jobs finished on any host (a job run twice after a redelivery
// still counts once).
func (k *kilndRabbitSystem) waitDone(ctx context.Context, n int) error {
	return kilnload.WaitSucceeded(ctx, k.client, "bench", n)
}

// close stops every host, then the broker, and says which hosts did not
// stop cleanly.
func (k *kilndRabbitSystem) close() error {
	for _, h := range k.hosts {
		h.Signal(syscall.SIGTERM)
	}
	var errs []error
	for i, h := range k.hosts {
		if err := h.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("kilnd host %d: %w", i+1, err))
		}
	}
	k.group.Close()
	return errors.Join(errs...)
}

// kilndRabbitAMQPSystem is kilnd on the rabbitmq backend with jobs
// published straight to the broker, as a web application in any language
// does (docs/rabbitmq.md, "Submit a job over AMQP"): each message with its own job ID,
// publisher confirms pipelined as in rabbitmq-pipelined. kilnd only
// consumes: the figure is the worker daemon's cost, beside the raw
// consumer's.
type kilndRabbitAMQPSystem struct {
	*kilndRabbitSystem
	conn *amqp.Connection
	ids  atomic.Int64
}

func newKilndRabbitAMQP(dir string, consumers, hosts int) (system, error) {
	s, err := newKilndRabbit(dir, consumers, 1, hosts)
	if err != nil {
		return nil, err
	}
	k := s.(*kilndRabbitSystem)
	conn, err := amqp.Dial(k.node.URL(""))
	if err != nil {
		k.close()
		return nil, fmt.Errorf("connect to the broker for the AMQP publishers: %w", err)
	}
	return &kilndRabbitAMQPSystem{kilndRabbitSystem: k, conn: conn}, nil
}

func (k *kilndRabbitAMQPSystem) name() string { return "kiln-rabbitmq-amqp" }

// message is job i of a run, published to kiln's jobs exchange.
func (k *kilndRabbitAMQPSystem) message(payload []byte) amqp.Publishing {
	body := append(append([]byte(`{"type":"`+worker.NoopType+`","payload":`), payload...), '}')
	return amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json",
		MessageId: "bench-" + strconv.FormatInt(k.ids.Add(1), 10), Body: body}
}

func (k *kilndRabbitAMQPSystem) submit(ctx context.Context, payload []byte) error {
	return publishWindowed(ctx, k.conn, "kiln.jobs", "bench", 1, 1, func(int) amqp.Publishing { return k.message(payload) })
}

func (k *kilndRabbitAMQPSystem) submitPipelined(ctx context.Context, payload []byte, n, window int) error {
	return publishWindowed(ctx, k.conn, "kiln.jobs", "bench", n, window, func(int) amqp.Publishing { return k.message(payload) })
}

func (k *kilndRabbitAMQPSystem) close() error {
	k.conn.Close()
	return k.kilndRabbitSystem.close()
}

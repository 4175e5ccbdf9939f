package main

import (
	"context"
	"strconv"
	"sync/atomic"

	"encoding/json"
	"fmt"
	amqp "github.com/rabbitmq/amqp091-go"
	"os"
	"path/filepath"
	"syscall"

	"kiln/api"
	"kiln/bench/internal/kilnload"
	"kiln/bench/internal/privatebroker"
	"kiln/e2e/instance"
	"kiln/internal/rabbitnode"
	"kiln/worker"
)

// kilndRabbitSystem is kilnd on the rabbitmq backend, end to end through
// its socket: each job submitted as an application would (one request per
// job, or one batch request per batch), published with confirms by kilnd,
// consumed by its workers, acked after the (no-op) job. The broker is a
// private node, as for the raw RabbitMQ figure beside it.
type kilndRabbitSystem struct {
	group  *rabbitnode.Group
	node   *rabbitnode.Node
	kilnd  *instance.Instance
	client *api.Client
	batch  int
}

func newKilndRabbit(dir string, consumers, batch int) (system, error) {
	g, node, err := privatebroker.Start(filepath.Join(dir, "broker"))
	if err != nil {
		return nil, err
	}
	broker, err := privatebroker.KilndTable(dir, node)
	if err != nil {
		g.Close()
		return nil, err
	}
	kiln, err := instance.Prepare(dir, fmt.Sprintf("[queues.bench]\nconcurrency = %d\n\n%s", consumers, broker))
	if err == nil && *kilndProfile != "" {
		name := "kiln-rabbitmq"
		pdir := filepath.Join(*kilndProfile, name)
		if err = os.MkdirAll(pdir, 0o755); err == nil {
			kiln.Env = []string{"KILND_PROFILE_DIR=" + pdir}
		}
	}
	if err == nil {
		err = kiln.Start(*kilndBin, os.Stderr)
	}
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("%w (make build)", err)
	}
	return &kilndRabbitSystem{group: g, node: node, kilnd: kiln, client: kiln.Client(), batch: batch}, nil
}

func (k *kilndRabbitSystem) name() string {
	if k.batch > 1 {
		return "kiln-rabbitmq-batch"
	}
	return "kiln-rabbitmq"
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

func (k *kilndRabbitSystem) waitDone(ctx context.Context, n int) error {
	return kilnload.WaitSucceeded(ctx, k.client, "bench", n)
}

func (k *kilndRabbitSystem) close() error {
	k.kilnd.Signal(syscall.SIGTERM)
	err := k.kilnd.Wait()
	k.group.Close()
	return err
}

// kilndRabbitAMQPSystem is kilnd on the rabbitmq backend with jobs
// published straight to the broker, as a web application in any language
// does (README, "Submit a job over AMQP"): each message with its own job ID,
// publisher confirms pipelined as in rabbitmq-pipelined. kilnd only
// consumes: the figure is the worker daemon's cost, beside the raw
// consumer's.
type kilndRabbitAMQPSystem struct {
	*kilndRabbitSystem
	conn *amqp.Connection
	ids  atomic.Int64
}

func newKilndRabbitAMQP(dir string, consumers int) (system, error) {
	s, err := newKilndRabbit(dir, consumers, 1)
	if err != nil {
		return nil, err
	}
	k := s.(*kilndRabbitSystem)
	conn, err := amqp.Dial(k.node.URL(""))
	if err != nil {
		k.close()
		return nil, err
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

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The raw RabbitMQ peers' consumers run in a process of their own, as the
// workers of a RabbitMQ deployment do: what they cost is then the server
// side's, beside kilnd (which runs its workers) and apart from the
// benchmark's publishers. This binary is that process when started with
// -raw-consumer; it speaks to its parent over its standard streams, so
// that neither side polls (a poll would be CPU counted as the consumer's):
//
//	stdout: "ready" once every consumer is set up
//	stdin:  a count N: the process answers "N" on stdout once it has
//	        acked N messages in all; at the end of stdin it closes its
//	        connection and exits
var rawConsumerURL = flag.String("raw-consumer", "", "run as the raw RabbitMQ peers' consumer process on this broker URL (the benchmark starts it so)")

// rawConsumerChannels is how many channels share the prefetch.
const rawConsumerChannels = 4

// runRawConsumer is the consumer process: each message acked after its
// (no-op) handler ran, prefetch shared over a few channels.
func runRawConsumer(url, queue string, prefetch int) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return fmt.Errorf("raw consumer: connect to %s: %w", url, err)
	}
	defer conn.Close()
	// target is the count asked for (0: none); the ack that reaches it
	// says so on reached.
	var acked, target atomic.Int64
	reached := make(chan struct{}, 1)
	var consuming sync.WaitGroup
	for i := 0; i < rawConsumerChannels; i++ {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("raw consumer: open channel %d: %w", i+1, err)
		}
		if err := ch.Qos(prefetch/rawConsumerChannels, 0, false); err != nil {
			return fmt.Errorf("raw consumer: set the prefetch of channel %d: %w", i+1, err)
		}
		deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("raw consumer: consume queue %s on channel %d: %w", queue, i+1, err)
		}
		consuming.Add(1)
		go func() {
			defer consuming.Done()
			for d := range deliveries {
				if d.Ack(false) != nil {
					return
				}
				if n, t := acked.Add(1), target.Load(); t > 0 && n >= t {
					select {
					case reached <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	gone := make(chan struct{})
	go func() {
		consuming.Wait()
		close(gone)
	}()
	if _, err := fmt.Println("ready"); err != nil {
		return err
	}
	asked := bufio.NewScanner(os.Stdin)
	for asked.Scan() {
		t, err := strconv.ParseInt(asked.Text(), 10, 64)
		if err != nil {
			return fmt.Errorf("raw consumer: asked %q, not a count", asked.Text())
		}
		target.Store(t)
		for acked.Load() < t {
			select {
			case <-reached:
			case <-gone:
				return fmt.Errorf("raw consumer: the deliveries ended after %d of %d acks", acked.Load(), t)
			}
		}
		if _, err := fmt.Println(t); err != nil {
			return err
		}
	}
	return asked.Err()
}

// rawConsumer is the parent's handle on a consumer process.
type rawConsumer struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	answers chan string // its stdout's lines after "ready"; closed at its end
}

// startRawConsumer starts this binary as the consumer process of queue
// on the broker at url and returns once it consumes.
func startRawConsumer(url string, prefetch int) (*rawConsumer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the raw consumer process: %w", err)
	}
	cmd := exec.Command(self, "-raw-consumer", url, "-consumers", strconv.Itoa(prefetch))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the raw consumer process %s: %w", self, err)
	}
	c := &rawConsumer{cmd: cmd, stdin: stdin, answers: make(chan string)}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		c.close()
		return nil, fmt.Errorf("raw consumer process did not say it was ready (%v)", lines.Err())
	}
	go func() {
		defer close(c.answers)
		for lines.Scan() {
			c.answers <- lines.Text()
		}
	}()
	return c, nil
}

func (c *rawConsumer) pid() int { return c.cmd.Process.Pid }

// waitAcked returns once the process has acked n messages in all.
func (c *rawConsumer) waitAcked(ctx context.Context, n int) error {
	if _, err := fmt.Fprintln(c.stdin, n); err != nil {
		return fmt.Errorf("ask the raw consumer process for %d acks: %w", n, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case answer, ok := <-c.answers:
		if !ok {
			return errors.New("raw consumer process stopped before all were acked")
		}
		if answer != strconv.Itoa(n) {
			return fmt.Errorf("raw consumer process answered %q to %d", answer, n)
		}
		return nil
	}
}

// close ends the process and waits for it.
func (c *rawConsumer) close() error {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("raw consumer process: %w", err)
	}
	return nil
}

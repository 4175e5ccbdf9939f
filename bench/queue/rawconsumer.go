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
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The raw RabbitMQ peers' consumers run in a process of their own, as the
// workers of a RabbitMQ deployment do: what they cost is then the server
// side's, beside kilnd (which runs its workers) and apart from the
// benchmark's publishers. This binary is that process when started with
// -raw-consumer; it speaks to its parent over its standard streams:
//
//	stdout: "ready" once every consumer is set up, then the count of
//	        messages acked so far whenever it has grown (checked every
//	        millisecond, so the parent's wait is not stretched by much)
//	stdin:  closed by the parent when the run is over; the process then
//	        closes its connection and exits
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
	var acked atomic.Int64
	var wg sync.WaitGroup
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range deliveries {
				if d.Ack(false) != nil {
					return
				}
				acked.Add(1)
			}
		}()
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	if err := out.Flush(); err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var told int64
	for {
		select {
		case <-stop:
			conn.Close()
			wg.Wait()
			return nil
		case <-tick.C:
		}
		if n := acked.Load(); n != told {
			told = n
			fmt.Fprintln(out, n)
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}

// rawConsumer is the parent's handle on a consumer process.
type rawConsumer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	acked atomic.Int64
	read  chan error // the end of its stdout: nil at EOF
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
	c := &rawConsumer{cmd: cmd, stdin: stdin, read: make(chan error, 1)}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		c.close()
		return nil, fmt.Errorf("raw consumer process did not say it was ready (%v)", lines.Err())
	}
	go func() {
		for lines.Scan() {
			n, err := strconv.ParseInt(lines.Text(), 10, 64)
			if err != nil {
				c.read <- fmt.Errorf("raw consumer process said %q, not a count", lines.Text())
				return
			}
			c.acked.Store(n)
		}
		c.read <- lines.Err()
	}()
	return c, nil
}

func (c *rawConsumer) pid() int { return c.cmd.Process.Pid }

// waitAcked returns once the process has acked n messages in all.
func (c *rawConsumer) waitAcked(ctx context.Context, n int) error {
	for c.acked.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-c.read:
			c.read <- err
			if c.acked.Load() >= int64(n) {
				return nil
			}
			return errors.Join(errors.New("raw consumer process stopped before all were acked"), err)
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// close ends the process and waits for it.
func (c *rawConsumer) close() error {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("raw consumer process: %w", err)
	}
	return nil
}

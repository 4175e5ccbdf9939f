package rabbitmq

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// countedAcks passes every settlement on to the channel and counts the
// ack frames. hold makes the next ack wait until released, so that the
// acks handed over meanwhile gather.
type countedAcks struct {
	ch *amqp.Channel

	mu        sync.Mutex
	acks      int
	multiples []uint64
	entered   chan struct{}
	gate      chan struct{}
}

// hold stops the next ack frame before it is sent: entered is closed when
// it waits, release lets it go.
func (c *countedAcks) hold() (entered <-chan struct{}, release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entered, c.gate = make(chan struct{}), make(chan struct{})
	gate := c.gate
	return c.entered, func() { close(gate) }
}

func (c *countedAcks) Ack(tag uint64, multiple bool) error {
	c.mu.Lock()
	entered, gate := c.entered, c.gate
	c.entered, c.gate = nil, nil
	c.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	c.mu.Lock()
	c.acks++
	if multiple {
		c.multiples = append(c.multiples, tag)
	}
	c.mu.Unlock()
	return c.ch.Ack(tag, multiple)
}

func (c *countedAcks) Nack(tag uint64, multiple, requeue bool) error {
	return c.ch.Nack(tag, multiple, requeue)
}

func (c *countedAcks) Reject(tag uint64, requeue bool) error {
	return c.ch.Reject(tag, requeue)
}

// Acks handed over while the writer is busy go out as one multiple ack
// for the settled run, and singles past a delivery still held; a later
// multiple ack names a tag the broker still holds, never one acked alone
// before; the broker then holds exactly the deliveries never settled.
func TestGroupedAcks_SettleOnlyWhatWasSettled(t *testing.T) {
	needNode(t)
	t.Parallel()
	name := randomPrefix() + ".acks"
	ch := brokerChannel(t, true)
	if _, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { brokerChannel(t, false).QueueDelete(name, false, false, false) })
	const n = 40
	for i := 1; i <= n; i++ {
		publishConfirmed(t, "", name, amqp.Publishing{Body: []byte(fmt.Sprint(i)), DeliveryMode: amqp.Persistent})
	}

	cc := brokerChannel(t, false)
	if err := cc.Qos(n, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := cc.Consume(name, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countedAcks{ch: cc}
	acks := newGroupedAcks(counted, slog.New(slog.DiscardHandler))
	got := map[uint64]amqp.Delivery{}
	for len(got) < n {
		select {
		case d := <-deliveries:
			d.Acknowledger = acks
			got[d.DeliveryTag] = d
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d messages delivered", len(got), n)
		}
	}
	ack := func(tags ...uint64) {
		t.Helper()
		for _, tag := range tags {
			if err := got[tag].Ack(false); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 1's ack goes out alone and waits; 2 to 40 are handed over
	// meanwhile, but for 25 and 33 (held: their jobs still run), 37
	// (never settled) and 30 (rejected, dropped).
	entered, release := counted.hold()
	ack(1)
	<-entered
	if err := got[30].Reject(false); err != nil {
		t.Fatal(err)
	}
	for tag := uint64(2); tag <= n; tag++ {
		if tag != 25 && tag != 33 && tag != 37 && tag != 30 {
			ack(tag)
		}
	}
	// The group's multiple ack waits in turn, and 25 and 33 end
	// meanwhile: their acks go out together after the singles.
	entered, releaseGroup := counted.hold()
	release()
	<-entered
	ack(25, 33)
	releaseGroup()
	acks.close()

	counted.mu.Lock()
	frames, multiples := counted.acks, slices.Clone(counted.multiples)
	counted.mu.Unlock()
	// 2–24 up to 24; then 25 to 36 are settled, of which only 25 and 33
	// have an ack to send: up to 33, which the broker still holds, not 36.
	if !slices.Equal(multiples, []uint64{24, 33}) {
		t.Errorf("multiple acks up to %v, want [24 33]", multiples)
	}
	// 1 alone, 2–24 as one, 26–29, 31, 32, 34–36, 38–40 alone, 25 and 33
	// as one.
	if want := 1 + 1 + 12 + 1; frames != want {
		t.Errorf("%d ack frames for 38 acks, want %d", frames, want)
	}
	// The channel goes without settling 37: the broker delivers exactly
	// that one again (a refused ack would have closed the channel and
	// brought back 25 and 33 too).
	cc.Close()
	again := brokerChannel(t, false)
	var left []string
	for {
		m, ok, err := again.Get(name, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		left = append(left, string(m.Body))
	}
	if !slices.Equal(left, []string{"37"}) {
		t.Errorf("the queue holds %v after the channel closed, want [37]: only the delivery never settled", left)
	}
}

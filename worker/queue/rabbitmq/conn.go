package rabbitmq

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// connState is the connection to the broker and what was declared on it;
// Queue.mu guards it.
type connState struct {
	link    *link // nil while disconnected
	health  error // why the broker cannot be used now; nil when it can
	blocked string
	// declared names what was declared on the current link.
	declared map[string]bool
	stepsOn  map[string]*link // wait queue → the link it was declared on
}

func newConnState() connState {
	return connState{
		health:   errors.New("broker not connected yet"),
		declared: map[string]bool{},
		stepsOn:  map[string]*link{},
	}
}

// Reconnect backoff: doubling from the first to the last wait, each with
// up to half of it added at random so that many kilnd hosts that lost the
// same broker do not come back in one wave.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 15 * time.Second
)

// closeWithin bounds closing a connection.
const closeWithin = 5 * time.Second

// publishChannels is how many confirm-mode channels publishes are spread
// over: one channel's confirms are serialised by the broker.
const publishChannels = 4

// link is one connection and the channels opened on it. A lost connection
// is never repaired: the loop makes a new link.
type link struct {
	conn *amqp.Connection
	url  string // without the password, for messages
	pubs []*amqp.Channel
	next atomic.Uint32
	lost chan *amqp.Error
	// version is the broker's version as it says it ("4.0.5"), major its
	// major version (3, 4, ...; 0 when it did not say): what its quorum
	// queues can do depends on it.
	version string
	major   int

	// ev is the confirm-mode channel events are published on, apart from
	// the job messages' (see eventConfirmFirst); evMu guards it.
	evMu sync.Mutex
	ev   *amqp.Channel
}

// pub returns a confirm-mode channel to publish on.
func (l *link) pub() *amqp.Channel {
	return l.pubs[int(l.next.Add(1))%len(l.pubs)]
}

// eventChannel returns the channel events are published on.
func (l *link) eventChannel() *amqp.Channel {
	l.evMu.Lock()
	defer l.evMu.Unlock()
	return l.ev
}

// renewEventChannel replaces the event channel old with a new one, unless
// another caller did already, and returns the current one.
func (l *link) renewEventChannel(old *amqp.Channel) (*amqp.Channel, error) {
	l.evMu.Lock()
	defer l.evMu.Unlock()
	if l.ev != old {
		return l.ev, nil
	}
	ch, err := confirmChannel(l.conn)
	if err != nil {
		return nil, fmt.Errorf("open event channel on %s: %w", l.url, err)
	}
	// Closing waits for the broker's answer, which a stuck channel may
	// never give.
	go old.Close()
	l.ev = ch
	return ch, nil
}

// confirmChannel opens a channel in confirm mode.
func confirmChannel(conn *amqp.Connection) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// connectLoop keeps the queue connected until Close.
func (q *Queue) connectLoop() {
	defer close(q.loopDone)
	wait := reconnectFirst
	var lastProblem string
	for {
		l, err := q.connect()
		if err != nil {
			q.setHealth(err)
			if msg := err.Error(); msg != lastProblem {
				q.log.Error("broker unreachable; retrying", "err", err, "retry_in", wait)
				lastProblem = msg
			}
			select {
			case <-q.closing:
				return
			case <-time.After(wait + rand.N(wait/2+1)):
			}
			wait = min(2*wait, reconnectMax)
			continue
		}
		wait, lastProblem = reconnectFirst, ""
		if l.major >= priorityMajor {
			q.log.Info("broker connected", "url", l.url, "version", l.version)
		} else {
			// What this broker lacks, said once per connection rather than
			// only in the refusal of a submit that asks for it.
			q.log.Info("broker connected; it is older than RabbitMQ 4.0, so submits with a priority are refused (quorum queues have no priorities before 4.0)",
				"url", l.url, "version", l.version)
		}
		select {
		case <-q.closing:
			q.dropLink(l, errors.New("closed"))
			// Close can hang while the broker blocks the connection (a
			// resource alarm): give it a deadline.
			l.conn.CloseDeadline(time.Now().Add(closeWithin))
			return
		case aerr := <-l.lost:
			err := fmt.Errorf("connection to %s lost: %v", l.url, aerr)
			q.log.Error("broker connection lost; reconnecting", "err", err)
			q.dropLink(l, err)
			l.conn.CloseDeadline(time.Now().Add(closeWithin))
		}
	}
}

func (q *Queue) setHealth(err error) {
	q.mu.Lock()
	q.health = err
	q.mu.Unlock()
}

// connect dials the URLs in order and sets up the topology, the consumers
// and the records reader on the first that answers.
func (q *Queue) connect() (*link, error) {
	var problems []error
	for _, raw := range q.opts.URLs {
		l, err := q.dial(raw)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if err := q.setUp(l); err != nil {
			l.conn.Close()
			problems = append(problems, fmt.Errorf("set up on %s: %w", l.url, err))
			continue
		}
		return l, nil
	}
	return nil, errors.Join(problems...)
}

func (q *Queue) dial(raw string) (*link, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %w", Redact(raw), err)
	}
	if q.opts.Password != "" {
		user := "guest"
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, q.opts.Password)
	}
	shown := Redact(u.String())
	cfg := amqp.Config{
		Heartbeat:       10 * time.Second,
		Locale:          "en_US",
		TLSClientConfig: q.opts.TLS,
		Properties:      amqp.Table{"connection_name": "kilnd " + q.host},
		Dial:            amqp.DefaultDial(10 * time.Second),
	}
	conn, err := amqp.DialConfig(u.String(), cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", shown, explainDial(err))
	}
	version, _ := conn.Properties["version"].(string)
	l := &link{conn: conn, url: shown, lost: make(chan *amqp.Error, 1), version: version, major: brokerMajor(conn.Properties)}
	conn.NotifyClose(l.lost)
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	go q.watchBlocked(blocked)
	for range publishChannels {
		ch, err := confirmChannel(conn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open publish channel on %s: %w", shown, err)
		}
		l.pubs = append(l.pubs, ch)
	}
	ev, err := confirmChannel(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open event channel on %s: %w", shown, err)
	}
	l.ev = ev
	return l, nil
}

// brokerMajor reads the major version from a broker's server properties
// ("version": "4.0.5").
func brokerMajor(props amqp.Table) int {
	v, _ := props["version"].(string)
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// explainDial adds what an operator should check to the broker's refusals.
func explainDial(err error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) {
		switch aerr.Code {
		case amqp.AccessRefused:
			return fmt.Errorf("the broker refused the login (check the user and the password file): %v", aerr.Reason)
		case amqp.NotAllowed:
			return fmt.Errorf("the broker refused access to the vhost: %q", aerr.Reason)
		}
	}
	return err
}

// watchBlocked follows the broker's resource alarms: while one is raised,
// a publish would hang, so submits are refused at once instead.
func (q *Queue) watchBlocked(ch <-chan amqp.Blocking) {
	for b := range ch {
		q.mu.Lock()
		if b.Active {
			q.blocked = b.Reason
			if q.blocked == "" {
				q.blocked = "resource alarm"
			}
		} else {
			q.blocked = ""
		}
		q.mu.Unlock()
		if b.Active {
			q.log.Warn("broker blocked publishing (resource alarm); submits are refused until it clears", "reason", b.Reason)
		} else {
			q.log.Info("broker unblocked publishing")
		}
	}
}

// Redact hides the password of an AMQP URL.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

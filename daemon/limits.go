package daemon

import (
	"fmt"
	"syscall"
	"time"

	"kiln/kilntype"
	"kiln/worker"
)

// LimitsConfig is the [limits] table: what one client may hold of the
// daemon through its listeners, the control socket and the TCP listener.
// Past a limit a client is refused or cut off, never queued without bound,
// so that no client, with a token or without, can exhaust the daemon's
// file descriptors, memory or shutdown time.
type LimitsConfig struct {
	// HeaderTimeout bounds the wait for a request's headers, from the
	// connection's first byte of that request (or its opening). Needs a
	// restart.
	HeaderTimeout Duration `toml:"header_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no request for
	// this long. Needs a restart.
	IdleTimeout Duration `toml:"idle_timeout"`
	// BodyTimeout bounds the reading of a whole request body, except a
	// streaming submit's.
	BodyTimeout Duration `toml:"body_timeout"`
	// LineTimeout bounds one line of a streaming submit, from its first
	// byte to its newline.
	LineTimeout Duration `toml:"line_timeout"`
	// StreamIdleTimeout bounds the wait for a streaming submit's next line.
	StreamIdleTimeout Duration `toml:"stream_idle_timeout"`
	// WriteTimeout bounds each write of an answer: a client that takes
	// nothing for this long is cut off, event streams included.
	WriteTimeout Duration `toml:"write_timeout"`

	// MaxConnections bounds the TCP listener's open connections, and
	// MaxConnectionsPerAddress those from one client address.
	MaxConnections           int `toml:"max_connections"`
	MaxConnectionsPerAddress int `toml:"max_connections_per_address"`
	// SocketMaxConnections bounds the control socket's own, counted apart
	// so that TCP clients can never crowd out local ones.
	SocketMaxConnections int `toml:"socket_max_connections"`
	// MaxEventStreams bounds the GET /v1/events subscribers of each
	// listener.
	MaxEventStreams int `toml:"max_event_streams"`

	// MaxSubmitBody bounds the body of a single submit, MaxBatchBody a
	// batch's.
	MaxSubmitBody kilntype.ByteSize `toml:"max_submit_body"`
	MaxBatchBody  kilntype.ByteSize `toml:"max_batch_body"`
	// MaxLargeBodies bounds the batch bodies over largeBody (or of unknown
	// length) that each listener reads at once; others wait their turn.
	MaxLargeBodies int `toml:"max_large_bodies"`
	// MaxListPage bounds the jobs of one GET /v1/jobs answer; the answer
	// names the cursor of the next page.
	MaxListPage int `toml:"max_list_page"`

	// RefusalLogInterval is how often refusals past the first of each kind
	// from an address are logged, as one count per address and kind.
	RefusalLogInterval Duration `toml:"refusal_log_interval"`
}

// largeBody is the size past which a batch body takes one of the
// listener's max_large_bodies turns: smaller batches, the usual ones, are
// never held back.
const largeBody = 1 << 20

// maxHeaderBytes bounds a request's header block: kiln's requests carry a
// token or a session cookie, not kilobytes of headers, and net/http's own
// bound (1 MiB) held by every open connection would be a lot of memory.
const maxHeaderBytes = 64 << 10

// fdReserve is the file descriptors kilnd needs besides its connections:
// the store, logs, worker pipes, the listeners themselves.
const fdReserve = 256

func defaultLimits() LimitsConfig {
	return LimitsConfig{
		HeaderTimeout:            Duration(10 * time.Second),
		IdleTimeout:              Duration(60 * time.Second),
		BodyTimeout:              Duration(60 * time.Second),
		LineTimeout:              Duration(30 * time.Second),
		StreamIdleTimeout:        Duration(10 * time.Minute),
		WriteTimeout:             Duration(30 * time.Second),
		MaxConnections:           1024,
		MaxConnectionsPerAddress: 128,
		SocketMaxConnections:     1024,
		MaxEventStreams:          100,
		MaxSubmitBody:            128 << 10,
		MaxBatchBody:             8 << 20,
		MaxLargeBodies:           4,
		MaxListPage:              1000,
		RefusalLogInterval:       Duration(time.Minute),
	}
}

func (c *LimitsConfig) validate(report func(key, msg string)) {
	for _, kd := range []struct {
		key string
		d   Duration
	}{
		{"header_timeout", c.HeaderTimeout}, {"idle_timeout", c.IdleTimeout}, {"body_timeout", c.BodyTimeout},
		{"line_timeout", c.LineTimeout}, {"stream_idle_timeout", c.StreamIdleTimeout}, {"write_timeout", c.WriteTimeout},
		{"refusal_log_interval", c.RefusalLogInterval},
	} {
		if kd.d <= 0 {
			report("limits."+kd.key, "must be more than 0: a listener without this bound can be held open by one client forever")
		}
	}
	for _, kn := range []struct {
		key string
		n   int
	}{
		{"max_connections", c.MaxConnections}, {"max_connections_per_address", c.MaxConnectionsPerAddress},
		{"socket_max_connections", c.SocketMaxConnections}, {"max_event_streams", c.MaxEventStreams},
		{"max_large_bodies", c.MaxLargeBodies}, {"max_list_page", c.MaxListPage},
	} {
		if kn.n < 1 {
			report("limits."+kn.key, "must be at least 1")
		}
	}
	if c.MaxConnectionsPerAddress > c.MaxConnections {
		report("limits.max_connections_per_address", fmt.Sprintf("%d is over max_connections (%d)", c.MaxConnectionsPerAddress, c.MaxConnections))
	}
	if c.MaxListPage > 100000 {
		report("limits.max_list_page", "must be at most 100000: a page is held in memory whole")
	}
	// A single submit carries one payload and a few short fields.
	if least := kilntype.ByteSize(worker.MaxPayload + 4<<10); c.MaxSubmitBody < least {
		report("limits.max_submit_body", fmt.Sprintf("must be at least %s: a job's payload alone may be %d KiB", least, worker.MaxPayload>>10))
	}
	if c.MaxBatchBody < c.MaxSubmitBody {
		report("limits.max_batch_body", fmt.Sprintf("%s is under max_submit_body (%s): a batch of one job would be refused", c.MaxBatchBody, c.MaxSubmitBody))
	}
}

// fileLimitWarning says whether the connections the limits allow, with
// kilnd's own files, fit in the process's file descriptor limit; past it
// accept fails with "too many open files" instead of the limits refusing
// the client. tcp says whether the TCP listener is open.
func (c *LimitsConfig) fileLimitWarning(tcp bool) string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return ""
	}
	need := uint64(c.SocketMaxConnections + fdReserve)
	keys := "limits.socket_max_connections"
	if tcp {
		need += uint64(c.MaxConnections)
		keys += " + limits.max_connections"
	}
	if need <= rl.Cur {
		return ""
	}
	return fmt.Sprintf("%s + %d for kilnd's own files is %d, over the file descriptor limit %d (LimitNOFILE=): raise the limit or lower the keys", keys, fdReserve, need, rl.Cur)
}

package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"kiln/worker"
	"kiln/worker/queue/rabbitmq"
)

// BrokerConfig is the [broker] table: absent, the local on-disk backend;
// with backend = "rabbitmq", the jobs live on a RabbitMQ broker shared by
// every kilnd configured for it.
type BrokerConfig struct {
	Backend      string    `toml:"backend"`
	URLs         []string  `toml:"urls"`
	PasswordFile string    `toml:"password_file"`
	TLS          BrokerTLS `toml:"tls"`
	Prefix       string    `toml:"prefix"`
	// KeepRecords (default true) makes this host keep every job's record
	// and answer lookups from them; a host with false runs jobs and asks
	// a host that keeps them.
	KeepRecords *bool `toml:"keep_records"`
}

// keepsRecords is broker.keep_records, true unless set to false.
func (b *BrokerConfig) keepsRecords() bool { return b.KeepRecords == nil || *b.KeepRecords }

// BrokerTLS is broker.tls: the CA that signs the broker's certificate, and
// this host's client certificate and key when the broker asks for one.
type BrokerTLS struct {
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

const (
	backendLocal    = "local"
	backendRabbitMQ = "rabbitmq"
)

// prefixPattern keeps the declared names readable and valid.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// validate reports every problem of the table that the file alone shows.
func (b *BrokerConfig) validate(report func(key, msg string)) {
	switch b.Backend {
	case "", backendLocal:
		if len(b.URLs) > 0 || b.PasswordFile != "" || b.TLS != (BrokerTLS{}) || b.KeepRecords != nil {
			report("broker.backend", `must be "rabbitmq" when broker.urls, password_file, tls or keep_records are set`)
		}
		return
	case backendRabbitMQ:
	default:
		report("broker.backend", fmt.Sprintf("%q is not one of local, rabbitmq", b.Backend))
		return
	}
	if len(b.URLs) == 0 {
		report("broker.urls", `needs at least one URL, such as "amqp://kiln@mq1:5672/images"`)
	}
	for i, raw := range b.URLs {
		key := fmt.Sprintf("broker.urls[%d]", i)
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			report(key, fmt.Sprintf("%q is not a URL: %v", rabbitmq.Redact(raw), err))
		case u.Scheme != "amqp" && u.Scheme != "amqps":
			report(key, fmt.Sprintf("%q: the scheme must be amqp or amqps", rabbitmq.Redact(raw)))
		case u.Hostname() == "":
			report(key, fmt.Sprintf("%q has no host", rabbitmq.Redact(raw)))
		case hasPassword(u):
			report(key, "has a password in it: put the password in broker.password_file, which only kiln can read")
		case u.Scheme == "amqp" && (b.TLS.Cert != "" || b.TLS.CA != ""):
			report(key, fmt.Sprintf("%q: broker.tls is set, so the URL must be amqps://", rabbitmq.Redact(raw)))
		}
	}
	if b.Prefix != "" && !prefixPattern.MatchString(b.Prefix) {
		report("broker.prefix", fmt.Sprintf("%q: use letters, digits, '.', '_' and '-', at most 64", b.Prefix))
	}
	if (b.TLS.Cert == "") != (b.TLS.Key == "") {
		report("broker.tls", "cert and key go together: set both or neither")
	}
}

func hasPassword(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, set := u.User.Password()
	return set
}

// checkFiles reports the problems of the files the table names, as
// openBroker would meet them: a missing or unreadable file, a password
// file that others may read, TLS material that does not load. It is one of
// the start checks.
func (b *BrokerConfig) checkFiles(report func(key, msg string)) {
	if b.Backend != backendRabbitMQ {
		return
	}
	if b.PasswordFile != "" {
		if _, err := readPasswordFile(b.PasswordFile); err != nil {
			report("broker.password_file", err.Error())
		}
	}
	if b.TLS != (BrokerTLS{}) {
		if _, err := b.TLS.config(); err != nil {
			report("broker.tls", err.Error())
		}
	}
}

// readPasswordFile reads the broker password, refusing a file that users
// other than its owner and group may read.
func readPasswordFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o): run chmod o-rwx %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}

// config loads the TLS material.
func (t BrokerTLS) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("cert and key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// resolvePaths makes the table's paths absolute, from baseDir.
func (b *BrokerConfig) resolvePaths(abs func(*string)) {
	abs(&b.PasswordFile)
	abs(&b.TLS.CA)
	abs(&b.TLS.Cert)
	abs(&b.TLS.Key)
}

// openBroker opens the rabbitmq backend. It does not wait for the broker:
// kilnd starts, and says in its status why the broker cannot be used,
// rather than fail and be restarted in a loop.
func (d *daemon) openBroker() (worker.Queue, error) {
	b := d.config().Broker
	opts := rabbitmq.Options{
		URLs:      b.URLs,
		Prefix:    b.Prefix,
		Queues:    d.queues,
		MaxQueued: func(queue string) int { return d.config().Queues[queue].MaxQueued },
		Log:       d.log.With("backend", backendRabbitMQ),
		// The records of finished jobs live in this file rather than in
		// memory, and a restart reads the records stream on from where it
		// stopped.
		RecordsFile: d.config().RecordsPath(),
		NoRecords:   !b.keepsRecords(),
		OnCancel: func(id string) {
			if d.pool != nil {
				d.pool.Cancel(id)
			}
		},
	}
	if d.charts != nil {
		opts.Attempts, opts.Charts = d.charts, d.encodedCharts
	}
	if b.PasswordFile != "" {
		pw, err := readPasswordFile(b.PasswordFile)
		if err != nil {
			return nil, &exitError{code: ExitConfig, err: d.config().keyProblem("broker.password_file", err)}
		}
		opts.Password = pw
	}
	if b.TLS != (BrokerTLS{}) {
		t, err := b.TLS.config()
		if err != nil {
			return nil, &exitError{code: ExitConfig, err: d.config().keyProblem("broker.tls", err)}
		}
		opts.TLS = t
	}
	q, err := rabbitmq.Open(opts)
	if err != nil {
		return nil, err
	}
	// A broker that answers soon is waited for, so that the first submits
	// after READY=1 are taken; one that does not is reported in the
	// status, and kilnd runs on without it.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), brokerStartWait)
		err := q.WaitReady(ctx)
		cancel()
		if err == nil {
			return q, nil
		}
		// A broker that answers while the records are read up to now is
		// waited for: READY=1 before that would answer from records that
		// are not right yet. The manager is asked for the time it takes.
		if syncing, offset := q.Syncing(); syncing {
			d.notify.extend(3*brokerStartWait, fmt.Sprintf("reading the job records from the broker (stream offset %d)", offset))
			continue
		}
		d.log.Warn("starting without the broker; submits are refused until it is reachable", "err", err)
		return q, nil
	}
}

// RecordsFileName is the rabbitmq backend's file of job records in
// daemon.state_dir.
const RecordsFileName = "rabbitmq-records.db"

// RecordsPath is the rabbitmq backend's file of job records.
func (c *Config) RecordsPath() string { return filepath.Join(c.view.StateDir, RecordsFileName) }

// brokerStartWait is how long kilnd waits for the broker before it says
// READY=1 anyway.
const brokerStartWait = 5 * time.Second

// brokerHealth is what a backend on a broker answers about it.
type brokerHealth interface {
	Health() error
}

// brokerStatus is the broker's line in the status: "" for the local
// backend.
func (d *daemon) brokerStatus() string {
	h, ok := d.queue.(brokerHealth)
	if !ok {
		return ""
	}
	if err := h.Health(); err != nil {
		return "broker unreachable: " + err.Error()
	}
	return "broker connected"
}

// queueDescription names where the jobs are, for the start-up log line.
func (d *daemon) queueDescription() string {
	cfg := d.config()
	if cfg.Broker.Backend == backendRabbitMQ {
		var shown []string
		for _, u := range cfg.Broker.URLs {
			shown = append(shown, rabbitmq.Redact(u))
		}
		return "rabbitmq " + strings.Join(shown, ",")
	}
	return cfg.StorePath()
}

package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/journal"
)

// SyslogIdent is the tag kilnd's syslog lines carry.
const SyslogIdent = "kilnd"

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
	"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
	"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

func parseFacility(s string) (syslog.Priority, error) {
	if f, ok := facilities[s]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("%q is not a syslog facility (daemon, user, local0..local7, ...)", s)
}

// parseSyslogAddress reads "" (the local /dev/log), unixgram:///path,
// unix:///path, udp://host:port or tcp://host:port.
func parseSyslogAddress(s string) (network, addr string, err error) {
	if s == "" {
		return "", "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%q is not an address: %v", s, err)
	}
	switch u.Scheme {
	case "unixgram", "unix":
		if u.Path == "" {
			return "", "", fmt.Errorf("%q has no socket path", s)
		}
		return u.Scheme, u.Path, nil
	case "udp", "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("%q has no host:port", s)
		}
		return u.Scheme, u.Host, nil
	}
	return "", "", fmt.Errorf("%q: scheme must be unixgram, unix, udp or tcp", s)
}

// Logging owns kilnd's log output; its level can change on reload.
type Logging struct {
	Logger *slog.Logger
	Target string // what auto resolved to
	level  *slog.LevelVar
	closer io.Closer
}

// SetLevel changes the level of a running logger.
func (l *Logging) SetLevel(s string) error {
	lv, err := parseLevel(s)
	if err != nil {
		return err
	}
	l.level.Set(lv)
	return nil
}

// Close releases the syslog connection, if any.
func (l *Logging) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// newLogging opens the configured log target. auto picks the journal when
// stderr is connected to it, syslog when detached (stderr is /dev/null
// then), and stderr otherwise.
func newLogging(cfg LogConfig, detached bool, stderr io.Writer) (*Logging, error) {
	level := new(slog.LevelVar)
	lv, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	level.Set(lv)
	target := cfg.Target
	if target == "auto" {
		switch {
		case stderrIsJournal():
			target = "journal"
		case detached:
			target = "syslog"
		default:
			target = "stderr"
		}
	}
	l := &Logging{Target: target, level: level}
	opts := &slog.HandlerOptions{Level: level}
	switch target {
	case "stderr":
		l.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "journal":
		if !journal.Enabled() {
			return nil, fmt.Errorf("log target journal: the journal socket is not available")
		}
		l.Logger = slog.New(&lineHandler{level: level, sink: journalSink{}})
	case "syslog":
		facility, err := parseFacility(cfg.SyslogFacility)
		if err != nil {
			return nil, err
		}
		w, err := dialSyslog(cfg, facility)
		if err != nil {
			return nil, err
		}
		l.closer = w
		l.Logger = slog.New(&lineHandler{level: level, sink: syslogSink{w}})
	}
	return l, nil
}

// stderrIsJournal follows sd_journal_stream_fd(3): systemd sets
// JOURNAL_STREAM to the device and inode of the stream it connected.
func stderrIsJournal() bool {
	v := os.Getenv("JOURNAL_STREAM")
	dev, ino, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return strconv.FormatUint(st.Dev, 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

// lineSink receives one formatted record.
type lineSink interface {
	emit(level slog.Level, line string, attrs []slog.Attr) error
}

// lineHandler formats records as "message key=value ..." for line-oriented
// targets (syslog, the journal), which carry time and severity themselves.
type lineHandler struct {
	level slog.Leveler
	sink  lineSink
	attrs []slog.Attr
	group string
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		attrs = append(attrs, a)
		return true
	})
	for _, a := range attrs {
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \"=") || v == "" {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, v)
	}
	return h.sink.emit(r.Level, b.String(), attrs)
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	if h.group != "" {
		for i := len(h.attrs); i < len(c.attrs); i++ {
			c.attrs[i].Key = h.group + "." + c.attrs[i].Key
		}
	}
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

type syslogSink struct{ w *syslog.Writer }

func (s syslogSink) emit(level slog.Level, line string, _ []slog.Attr) error {
	switch {
	case level >= slog.LevelError:
		return s.w.Err(line)
	case level >= slog.LevelWarn:
		return s.w.Warning(line)
	case level >= slog.LevelInfo:
		return s.w.Info(line)
	default:
		return s.w.Debug(line)
	}
}

type journalSink struct{}

func (journalSink) emit(level slog.Level, line string, attrs []slog.Attr) error {
	prio := journal.PriDebug
	switch {
	case level >= slog.LevelError:
		prio = journal.PriErr
	case level >= slog.LevelWarn:
		prio = journal.PriWarning
	case level >= slog.LevelInfo:
		prio = journal.PriInfo
	}
	// Fields are upper-case by journal convention, and prefixed so that
	// `journalctl KILN_JOB=...` finds every line of one job.
	vars := map[string]string{"SYSLOG_IDENTIFIER": SyslogIdent}
	for _, a := range attrs {
		vars["KILN_"+journalFieldName(a.Key)] = a.Value.Resolve().String()
	}
	return journal.Send(line, prio, vars)
}

func journalFieldName(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, k)
}

// dialSyslog connects to the syslog daemon cfg names, as a start does and
// as -check-config does to see that a start would.
func dialSyslog(cfg LogConfig, facility syslog.Priority) (*syslog.Writer, error) {
	network, addr, err := parseSyslogAddress(cfg.SyslogAddress)
	if err != nil {
		return nil, err
	}
	w, err := syslog.Dial(network, addr, facility|syslog.LOG_INFO, SyslogIdent)
	if err != nil {
		where := addr
		if where == "" {
			where = "/dev/log"
		}
		return nil, fmt.Errorf("log target syslog: connect to %s: %w", where, err)
	}
	return w, nil
}

// checkLogTarget is the start check of a log target the file names: the
// journal's socket is there, the syslog daemon answers. "auto" is not
// checked: it picks the target from how kilnd is started, which
// -check-config run from a shell does not share.
func (c *LogConfig) checkLogTarget(report func(key, msg string)) {
	switch c.Target {
	case "journal":
		if !journal.Enabled() {
			report("log.target", "log target journal: the journal socket is not available")
		}
	case "syslog":
		facility, err := parseFacility(c.SyslogFacility)
		if err != nil {
			return // the parse has reported it
		}
		w, err := dialSyslog(*c, facility)
		if err != nil {
			report("log.target", err.Error())
			return
		}
		w.Close()
	}
}

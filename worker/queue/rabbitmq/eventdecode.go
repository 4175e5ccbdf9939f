package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"kiln/worker"
)

// Every kilnd reads every message of the records stream, so decoding the
// events is a cost each host pays for each job. Those messages are
// written by appendEvent (jobjson.go), field by field in a known form;
// decodeEvents reads that form directly and leaves anything else (a key it
// does not know, an escape in a string it cannot take as it is) to
// encoding/json, so that what it returns is always what encoding/json
// would (FuzzDecodeEvents holds it to that).

// errNotOurForm is why the direct reading gave up: encoding/json decides.
var errNotOurForm = errors.New("not in the form appendEvent writes")

// decodeEvents reads the events of one message of the records stream.
func decodeEvents(body []byte) ([]*event, error) {
	if evs, err := readEvents(body); err == nil {
		return evs, nil
	}
	// What encoding/json decoded before an error is kept with it, as it
	// was before there was a direct reading.
	var evs []*event
	err := json.Unmarshal(body, &evs)
	return evs, err
}

// jsonScan reads JSON values one after another from b.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\t' || s.b[s.i] == '\r') {
		s.i++
	}
}

// take consumes c, after white space.
func (s *jsonScan) take(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek is the next byte after white space (0 at the end).
func (s *jsonScan) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value returns the bytes of the next value, whatever it is, checked by
// encoding/json's rules only as far as its extent.
func (s *jsonScan) value() ([]byte, error) {
	s.space()
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			if _, err := s.stringEnd(); err != nil {
				return nil, err
			}
			if depth == 0 {
				return s.b[start:s.i], nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, errNotOurForm
			}
			if depth == 0 {
				s.i++
				return s.b[start:s.i], nil
			}
		case ',', ':', ' ', '\n', '\t', '\r':
			if depth == 0 {
				if s.i == start {
					return nil, errNotOurForm
				}
				return s.b[start:s.i], nil
			}
		}
		s.i++
	}
	if depth != 0 || s.i == start {
		return nil, errNotOurForm
	}
	return s.b[start:s.i], nil
}

// stringEnd moves past a string that starts at s.i and reports whether
// it holds an escape.
func (s *jsonScan) stringEnd() (escaped bool, err error) {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return false, errNotOurForm
		default:
			s.i++
		}
	}
	return false, errNotOurForm
}

// str reads a string; one with escapes, or bytes that are not plain
// ASCII, goes through encoding/json so that it decodes the same.
func (s *jsonScan) str() (string, error) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", errNotOurForm
	}
	start := s.i
	escaped, err := s.stringEnd()
	if err != nil {
		return "", err
	}
	raw := s.b[start:s.i]
	if !escaped && ascii(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", errNotOurForm
	}
	return out, nil
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// integer reads a whole number that fits in 64 bits.
func (s *jsonScan) integer() (int64, error) {
	raw, err := s.value()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errNotOurForm
	}
	return n, nil
}

func (s *jsonScan) unsigned() (uint64, error) {
	raw, err := s.value()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, errNotOurForm
	}
	return n, nil
}

func (s *jsonScan) when() (time.Time, error) {
	raw, err := s.value()
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if err := t.UnmarshalJSON(raw); err != nil {
		return time.Time{}, errNotOurForm
	}
	return t, nil
}

// object reads an object whose keys are plain strings, calling field for
// each with the scanner at its value.
func (s *jsonScan) object(field func(key string) error) error {
	if !s.take('{') {
		return errNotOurForm
	}
	if s.take('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if !s.take(':') {
			return errNotOurForm
		}
		if err := field(key); err != nil {
			return err
		}
		if s.take(',') {
			continue
		}
		if s.take('}') {
			return nil
		}
		return errNotOurForm
	}
}

// array reads an array, calling elem for each element.
func (s *jsonScan) array(elem func() error) error {
	if !s.take('[') {
		return errNotOurForm
	}
	if s.take(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.take(',') {
			continue
		}
		if s.take(']') {
			return nil
		}
		return errNotOurForm
	}
}

// readEvents reads a message of events in appendEvent's form.
func readEvents(body []byte) ([]*event, error) {
	s := &jsonScan{b: body}
	evs := []*event{}
	if s.peek() == 'n' {
		return nil, errNotOurForm // null: encoding/json's answer
	}
	err := s.array(func() error {
		if s.peek() == 'n' {
			return errNotOurForm
		}
		e := &event{}
		evs = append(evs, e)
		return s.object(func(key string) error { return s.eventField(e, key) })
	})
	if err != nil {
		return nil, err
	}
	if s.space(); s.i != len(s.b) {
		return nil, errNotOurForm
	}
	return evs, nil
}

func (s *jsonScan) eventField(e *event, key string) error {
	var err error
	switch key {
	case "kind":
		e.Kind, err = s.str()
	case "host":
		e.Host, err = s.str()
	case "seq":
		e.Seq, err = s.unsigned()
	case "gen":
		var n int64
		n, err = s.integer()
		e.Gen = int(n)
	case "copy":
		e.Copy, err = s.unsigned()
	case "id":
		e.ID, err = s.str()
	case "queue":
		e.Queue, err = s.str()
	case "from":
		var st string
		st, err = s.str()
		e.From = worker.State(st)
	case "marker":
		e.Marker, err = s.str()
	case "job":
		if s.peek() == 'n' || e.Job != nil {
			return errNotOurForm
		}
		e.Job = &worker.JobRecord{}
		err = s.object(func(k string) error { return s.jobField(e.Job, k) })
	default:
		return errNotOurForm
	}
	return err
}

func (s *jsonScan) jobField(j *worker.JobRecord, key string) error {
	var err error
	var n int64
	switch key {
	case "id":
		j.ID, err = s.str()
	case "queue":
		j.Queue, err = s.str()
	case "type":
		j.Type, err = s.str()
	case "payload":
		j.Payload, err = s.rawCopy()
	case "result":
		j.Result, err = s.rawCopy()
	case "priority":
		n, err = s.integer()
		j.Priority = int(n)
	case "attempts":
		n, err = s.integer()
		j.Attempts = int(n)
	case "max_attempts":
		n, err = s.integer()
		j.MaxAttempts = int(n)
	case "run_at":
		j.RunAt, err = s.when()
	case "created_at":
		j.CreatedAt, err = s.when()
	case "updated_at":
		j.UpdatedAt, err = s.when()
	case "finished_at":
		j.FinishedAt, err = s.when()
	case "lease_until":
		j.LeaseUntil, err = s.when()
	case "timeout":
		var text string
		if text, err = s.str(); err == nil {
			err = j.Timeout.UnmarshalText([]byte(text))
		}
	case "unique_key":
		j.UniqueKey, err = s.str()
	case "state":
		var st string
		st, err = s.str()
		j.State = worker.State(st)
	case "last_error":
		j.LastError, err = s.str()
	case "parent":
		j.Parent, err = s.str()
	case "cancel_requested":
		var raw []byte
		if raw, err = s.value(); err == nil {
			switch string(raw) {
			case "true":
				j.CancelRequested = true
			case "false":
				j.CancelRequested = false
			default:
				err = errNotOurForm
			}
		}
	case "children":
		j.Children = []string{}
		err = s.array(func() error {
			c, err := s.str()
			j.Children = append(j.Children, c)
			return err
		})
	case "errors":
		j.Errors = []worker.AttemptError{}
		err = s.array(func() error {
			var a worker.AttemptError
			err := s.object(func(k string) error {
				var err error
				switch k {
				case "attempt":
					var n int64
					n, err = s.integer()
					a.Attempt = int(n)
				case "at":
					a.At, err = s.when()
				case "error":
					a.Error, err = s.str()
				default:
					err = errNotOurForm
				}
				return err
			})
			j.Errors = append(j.Errors, a)
			return err
		})
	default:
		return errNotOurForm
	}
	if err != nil {
		return errNotOurForm
	}
	return nil
}

// rawCopy reads a value kept as it is (a payload, a result), copied out
// of the message's buffer; null is kept as null, as encoding/json keeps
// it in a json.RawMessage.
func (s *jsonScan) rawCopy() (json.RawMessage, error) {
	raw, err := s.value()
	if err != nil {
		return nil, err
	}
	if !json.Valid(raw) {
		return nil, errNotOurForm
	}
	return bytes.Clone(raw), nil
}

// decodeJobBody reads the body of a job message into j: directly when it
// is in the form kiln writes (and a producer's plain object of type and
// payload is), else with encoding/json, to the same result either way
// (FuzzDecodeJobBody). Every delivery is decoded once, on the host that
// takes it.
func decodeJobBody(body []byte, j *worker.JobRecord) error {
	if readJobBody(body, j) == nil {
		return nil
	}
	*j = worker.JobRecord{}
	return json.Unmarshal(body, j)
}

// readJobBody reads a job message's body in kiln's form.
func readJobBody(body []byte, j *worker.JobRecord) error {
	s := &jsonScan{b: body}
	if s.peek() != '{' {
		return errNotOurForm
	}
	if err := s.object(func(key string) error { return s.jobField(j, key) }); err != nil {
		return err
	}
	if s.space(); s.i != len(s.b) {
		return errNotOurForm
	}
	return nil
}

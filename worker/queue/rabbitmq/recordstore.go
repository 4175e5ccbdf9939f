package rabbitmq

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"kiln/internal/jsonwrite"
	"kiln/worker"
)

// The records a kilnd built from the records stream are kept in a file of
// its own, so that neither its memory nor its start grows with the jobs of
// the past: a record stays in memory while its job waits or runs and for
// a little while after it ends (residentFor), then lives only in the file,
// read back when it is asked for. With each write go the stream offset the
// records reflect and the per-queue counts, so a restarted kilnd reads the
// stream on from there instead of from its start.
//
// The file is a cache of the stream, not the jobs' durable home (that is
// the broker): it is written without fsync, and one that does not open is
// set aside and the records read again from the stream.

// residentFor is how long a finished job's record stays in memory after
// its last change: the events of a job that another host ran come in
// within moments of each other, and a later one reads the record back
// from the file.
const residentFor = 2 * time.Second

// flushEvery is how often changed records are written to the file.
const flushEvery = time.Second

var (
	bucketRecords  = []byte("records")  // job ID → storedRecord
	bucketFinished = []byte("finished") // created (8 bytes) + job ID → queue NUL state NUL finished (Unix ns)
	bucketPurged   = []byte("purged")   // job ID → generation purged
	bucketOpen     = []byte("open")     // job ID → nothing, for the jobs not finished
	bucketMeta     = []byte("meta")
	keyState       = []byte("state")
)

// storedRecord is a record as the file keeps it.
type storedRecord struct {
	Job  *worker.JobRecord `json:"job"`
	Seq  uint64            `json:"seq"`
	Gen  int               `json:"gen"`
	Copy uint64            `json:"copy,omitempty"`
	Host string            `json:"host,omitempty"`
}

// storedState is what the file keeps beside the records: where in the
// stream they are, and what is counted from them.
type storedState struct {
	Stream    string                          `json:"stream"` // the records stream the file was built from
	Offset    int64                           `json:"offset"`
	Counts    map[string]map[worker.State]int `json:"counts"`
	Paused    map[string]bool                 `json:"paused,omitempty"`
	Cancelled map[string]int                  `json:"cancelled,omitempty"`
	NotJobs   map[string]int                  `json:"not_jobs,omitempty"`
}

// recordStore is the file of records.
type recordStore struct {
	db   *bbolt.DB
	path string
}

// openRecordStore opens the file at path, for the records of stream. A
// file of another stream, or one that does not open, is moved aside (its
// name + ".old") and a new one made: the stream has what it had.
func openRecordStore(path, stream string) (*recordStore, *storedState, error) {
	s, st, err := openRecordFile(path, stream)
	if err == nil {
		return s, st, nil
	}
	if errors.Is(err, errOtherStream) || errors.Is(err, bbolt.ErrInvalid) || errors.Is(err, bbolt.ErrChecksum) || errors.Is(err, bbolt.ErrVersionMismatch) {
		if rerr := os.Rename(path, path+".old"); rerr != nil {
			return nil, nil, fmt.Errorf("set aside records file %s (%v): %w", path, err, rerr)
		}
		return openRecordFile(path, stream)
	}
	return nil, nil, err
}

var errOtherStream = errors.New("the file holds the records of another stream")

func openRecordFile(path, stream string) (*recordStore, *storedState, error) {
	// The freelist is kept in the file: without it, opening walks every
	// page of the file to find the free ones, which reads (and keeps
	// mapped) the whole history.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, nil, fmt.Errorf("open records file %s: %w", path, err)
	}
	st := &storedState{Stream: stream}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketFinished, bucketPurged, bucketOpen, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		raw := tx.Bucket(bucketMeta).Get(keyState)
		if raw == nil {
			return nil
		}
		if err := json.Unmarshal(raw, st); err != nil {
			return fmt.Errorf("%w: its state does not decode: %v", bbolt.ErrInvalid, err)
		}
		if st.Stream != stream {
			return fmt.Errorf("%w (%s, not %s)", errOtherStream, st.Stream, stream)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open records file %s: %w", path, err)
	}
	return &recordStore{db: db, path: path}, st, nil
}

func (s *recordStore) close() error { return s.db.Close() }

// unfinished returns every record of a job that has not finished: they
// live in memory. Only those are read, whatever the file's history.
func (s *recordStore) unfinished() ([]*record, error) {
	var out []*record
	err := s.db.View(func(tx *bbolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			v := recs.Get(k)
			if v == nil {
				return nil
			}
			r, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			if !r.job.State.Terminal() {
				r.inFile = inOpen
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read records file %s: %w", s.path, err)
	}
	return out, nil
}

// get returns the stored record of a job, or nil.
func (s *recordStore) get(id string) (*record, error) {
	var r *record
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		if r, err = decodeStored(v); err == nil {
			r.inFile = indexOf(r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read record %s from %s: %w", id, s.path, err)
	}
	return r, nil
}

// purgedGen returns the generation of a job whose record was purged.
func (s *recordStore) purgedGen(id string) (int, bool) {
	var gen int
	var ok bool
	s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketPurged).Get([]byte(id)); len(v) == 8 {
			gen, ok = int(binary.BigEndian.Uint64(v)), true
		}
		return nil
	})
	return gen, ok
}

// fileIndex is which of the file's indexes holds a job.
type fileIndex uint8

const (
	inNoIndex  fileIndex = iota // not written yet
	inOpen                      // among the unfinished
	inFinished                  // among the finished
)

// indexOf is the index a record belongs in.
func indexOf(r *record) fileIndex {
	if r.job.State.Terminal() {
		return inFinished
	}
	return inOpen
}

// recordWrite is one flush: the records changed, those purged (with
// their generation), and the state they bring the file to.
type recordWrite struct {
	put    []*record
	purged map[string]int
	state  storedState
}

// write applies one flush in one transaction.
func (s *recordStore) write(w *recordWrite) error {
	st, err := json.Marshal(&w.state)
	if err != nil {
		return err
	}
	// In key order, a write of new jobs appends to the B-trees' last
	// pages (IDs and the index keys begin with a time) rather than
	// inserting into the middle of a page at every record.
	slices.SortFunc(w.put, func(a, b *record) int { return cmp.Compare(a.job.ID, b.job.ID) })
	err = s.db.Update(func(tx *bbolt.Tx) error {
		recs, fin, pur, open := tx.Bucket(bucketRecords), tx.Bucket(bucketFinished), tx.Bucket(bucketPurged), tx.Bucket(bucketOpen)
		for _, r := range w.put {
			if err := recs.Put([]byte(r.job.ID), encodeStored(r)); err != nil {
				return err
			}
			// A job's creation never changes, nor so its key in the
			// index of finished jobs: a job that is running again (a
			// retry) leaves the index by that key. Most jobs come and
			// end between two writes and are written once, finished.
			if !r.job.State.Terminal() {
				if r.inFile == inFinished {
					if err := fin.Delete(finishedKey(&r.job)); err != nil {
						return err
					}
				}
				if r.inFile != inOpen {
					if err := open.Put([]byte(r.job.ID), []byte{}); err != nil {
						return err
					}
				}
				continue
			}
			if r.inFile == inOpen {
				if err := open.Delete([]byte(r.job.ID)); err != nil {
					return err
				}
			}
			v := r.job.Queue + "\x00" + string(r.job.State) + "\x00" + strconv.FormatInt(r.job.FinishedAt.UnixNano(), 10)
			if err := fin.Put(finishedKey(&r.job), []byte(v)); err != nil {
				return err
			}
		}
		for id, gen := range w.purged {
			if old := recs.Get([]byte(id)); old != nil {
				if o, err := decodeStored(old); err == nil && o.job.State.Terminal() {
					if err := fin.Delete(finishedKey(&o.job)); err != nil {
						return err
					}
				}
				if err := recs.Delete([]byte(id)); err != nil {
					return err
				}
				if err := open.Delete([]byte(id)); err != nil {
					return err
				}
			}
			if err := pur.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(gen))); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyState, st)
	})
	if err != nil {
		return fmt.Errorf("write records file %s: %w", s.path, err)
	}
	for _, r := range w.put {
		r.inFile = indexOf(r)
	}
	return nil
}

// finishedKey orders finished jobs as listings do: by creation, then ID.
func finishedKey(j *worker.JobRecord) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(j.CreatedAt.UnixNano()))
	return append(k, j.ID...)
}

// finished calls fn for each finished job in creation order, from the
// first created after (at, id) on (the first of all when at is zero),
// with its queue, state and end, until fn returns false.
func (s *recordStore) finished(at time.Time, id string, fn func(id, queue string, state worker.State, finishedAt time.Time) bool) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketFinished).Cursor()
		var from []byte
		k, v := c.First()
		if !at.IsZero() {
			from = finishedKey(&worker.JobRecord{CreatedAt: at, ID: id})
			k, v = c.Seek(from)
		}
		for ; k != nil; k, v = c.Next() {
			if bytes.Equal(k, from) {
				continue
			}
			queue, rest, _ := bytes.Cut(v, []byte{0})
			state, end, _ := bytes.Cut(rest, []byte{0})
			ns, _ := strconv.ParseInt(string(end), 10, 64)
			if !fn(string(k[8:]), string(queue), worker.State(state), time.Unix(0, ns).UTC()) {
				return nil
			}
		}
		return nil
	})
}

// encodeStored writes a record as storedRecord's JSON, with the job's own
// writer (jobjson.go): every host writes every record it learns of.
func encodeStored(r *record) []byte {
	b := make([]byte, 0, 512+len(r.job.Payload)+len(r.job.Result))
	b = append(b, `{"job":`...)
	b = appendJob(b, &r.job)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.seq, 10)
	b = append(b, `,"gen":`...)
	b = strconv.AppendInt(b, int64(r.gen), 10)
	b = append(b, `,"copy":`...)
	b = strconv.AppendUint(b, r.copy, 10)
	b = append(b, `,"host":`...)
	b = jsonwrite.String(b, r.host)
	return append(b, '}')
}

func decodeStored(v []byte) (*record, error) {
	var sr storedRecord
	if err := json.Unmarshal(v, &sr); err != nil || sr.Job == nil {
		return nil, fmt.Errorf("stored record does not decode: %v", err)
	}
	return &record{job: *sr.Job, seq: sr.Seq, gen: sr.Gen, copy: sr.Copy, host: sr.Host}, nil
}

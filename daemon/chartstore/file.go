package chartstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"kiln/internal/durable"
)

// fileVersion is the layout of the file; another one is read as damaged.
const fileVersion = 1

// storeFile is the file's layout: the buckets that hold something, and
// of each histogram only its non-empty buckets, as [index, count].
type storeFile struct {
	Version int                   `json:"version"`
	Newest  time.Time             `json:"newest"`
	Queues  map[string]seriesFile `json:"queues"`
}

type seriesFile struct {
	Minutes  []bucketFile `json:"minutes"`
	Quarters []bucketFile `json:"quarters"`
}

type bucketFile struct {
	Start  int64       `json:"start"`
	Done   int64       `json:"done,omitempty"`
	Failed int64       `json:"failed,omitempty"`
	Wait   [][2]uint32 `json:"wait,omitempty"`
	Run    [][2]uint32 `json:"run,omitempty"`
	Depth  int64       `json:"depth"`
}

// Save writes the store to its file, whole or not at all, if anything
// changed since the last save.
func (s *Store) Save() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	s.forgetStaleLocked(s.now())
	f := storeFile{Version: fileVersion, Newest: s.newest, Queues: map[string]seriesFile{}}
	for name, sr := range s.queues {
		f.Queues[name] = seriesFile{Minutes: ringFile(&sr.minutes), Quarters: ringFile(&sr.quarters)}
	}
	s.dirty = false
	s.mu.Unlock()
	b, err := json.Marshal(f)
	if err == nil {
		err = durable.ReplaceFile(s.path, b, 0o640)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("save the charts: %w", err)
	}
	return nil
}

func ringFile(r *ring) []bucketFile {
	var out []bucketFile
	for i := range r.buckets {
		b := &r.buckets[i]
		if b.start == 0 {
			continue
		}
		out = append(out, bucketFile{Start: b.start, Done: b.done, Failed: b.failed, Wait: histFile(&b.wait), Run: histFile(&b.run), Depth: b.depth})
	}
	return out
}

func histFile(h *histogram) [][2]uint32 {
	var out [][2]uint32
	for i, n := range h {
		if n > 0 {
			out = append(out, [2]uint32{uint32(i), n})
		}
	}
	return out
}

// load reads the file; mu need not be held (Open alone calls it).
func (s *Store) load() {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = s.decode(b)
	}
	if err != nil {
		s.queues = map[string]*series{}
		s.newest, s.resumeAfter = time.Time{}, time.Time{}
		s.log.Error("charts: the saved charts are unreadable; starting them afresh", "file", s.path, "err", err)
	}
}

func (s *Store) decode(b []byte) error {
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f.Version != fileVersion {
		return fmt.Errorf("version %d, not %d", f.Version, fileVersion)
	}
	if len(f.Queues) > maxQueues {
		return fmt.Errorf("%d queues, more than %d", len(f.Queues), maxQueues)
	}
	for name, sf := range f.Queues {
		sr := newSeries()
		if err := fillRing(&sr.minutes, sf.Minutes); err != nil {
			return fmt.Errorf("queue %q, minutes: %w", name, err)
		}
		if err := fillRing(&sr.quarters, sf.Quarters); err != nil {
			return fmt.Errorf("queue %q, quarters: %w", name, err)
		}
		s.queues[name] = sr
	}
	s.newest, s.resumeAfter = f.Newest, f.Newest
	return nil
}

func fillRing(r *ring, buckets []bucketFile) error {
	step := int64(r.step / time.Second)
	for _, bf := range buckets {
		if bf.Start <= 0 || bf.Start%step != 0 {
			return fmt.Errorf("bucket start %d is not a start of a %s step", bf.Start, r.step)
		}
		if bf.Done < 0 || bf.Failed < 0 || bf.Depth < -1 {
			return fmt.Errorf("bucket %d: negative counts", bf.Start)
		}
		b := &r.buckets[(bf.Start/step)%int64(len(r.buckets))]
		if b.start >= bf.Start {
			return fmt.Errorf("bucket %d: its place is taken by bucket %d", bf.Start, b.start)
		}
		b.reset(bf.Start)
		b.done, b.failed, b.depth = bf.Done, bf.Failed, bf.Depth
		if err := fillHist(&b.wait, bf.Wait); err != nil {
			return fmt.Errorf("bucket %d, wait: %w", bf.Start, err)
		}
		if err := fillHist(&b.run, bf.Run); err != nil {
			return fmt.Errorf("bucket %d, run: %w", bf.Start, err)
		}
	}
	return nil
}

func fillHist(h *histogram, counts [][2]uint32) error {
	for _, c := range counts {
		if c[0] >= histBuckets {
			return fmt.Errorf("histogram bucket %d of %d", c[0], histBuckets)
		}
		h[c[0]] = c[1]
	}
	return nil
}

package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"maragu.dev/goqite"
)

var goqiteSchema = flag.String("goqite-schema", "", "goqite's schema_sqlite.sql (from its module directory)")

// goqiteSystem is goqite on SQLite in WAL mode with synchronous=FULL: with
// goqite's default synchronous=NORMAL a commit is not durable.
type goqiteSystem struct {
	db    *sql.DB
	q     *goqite.Queue
	done  atomic.Int64
	stop  context.CancelFunc
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error
}

func newGoqite(dir string, consumers int) (system, error) {
	if *goqiteSchema == "" {
		return nil, errors.New("-goqite-schema is required (bench/queue.sh passes it)")
	}
	schema, err := os.ReadFile(*goqiteSchema)
	if err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "goqite.db") + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; more connections only contend
	if _, err := db.Exec(string(schema)); err != nil {
		return nil, fmt.Errorf("goqite schema: %w", err)
	}
	g := &goqiteSystem{db: db, q: goqite.New(goqite.NewOpts{DB: db, Name: "bench", Timeout: time.Minute})}
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	for i := 0; i < consumers; i++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for ctx.Err() == nil {
				m, err := g.q.ReceiveAndWait(ctx, time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						g.fail(err)
					}
					return
				}
				if err := g.q.Delete(ctx, m.ID); err != nil {
					if ctx.Err() == nil {
						g.fail(err)
					}
					return
				}
				g.done.Add(1)
			}
		}()
	}
	return g, nil
}

func (g *goqiteSystem) fail(err error) {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if g.err == nil {
		g.err = err
	}
}

func (g *goqiteSystem) name() string { return "goqite" }

func (g *goqiteSystem) submit(ctx context.Context, payload []byte) error {
	return g.q.Send(ctx, goqite.Message{Body: payload})
}

func (g *goqiteSystem) waitDone(ctx context.Context, n int) error {
	for g.done.Load() < int64(n) {
		g.errMu.Lock()
		err := g.err
		g.errMu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (g *goqiteSystem) close() error {
	g.stop()
	g.wg.Wait()
	return g.db.Close()
}

package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// stateLockName is the lock file in state_dir. The pidfile keeps out a
// second kilnd with the same config; this keeps out one with another
// pidfile but the same state, before it reaches the store, whose own lock
// would only time out without naming the holder.
const stateLockName = "kilnd.lock"

// StateLockPath is the lock file of the state directory.
func (c *Config) StateLockPath() string { return filepath.Join(c.Daemon.StateDir, stateLockName) }

// lockState creates the state directory and locks it for this process,
// holding our PID like a pidfile.
func (d *daemon) lockState() error {
	cfg := d.config()
	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o750); err != nil {
		return fmt.Errorf("create state directory %s: %w", cfg.Daemon.StateDir, err)
	}
	lock, err := AcquirePidfile(cfg.StateLockPath())
	if err != nil {
		return lockFailure("daemon.state_dir", err)
	}
	d.stateLock = lock
	return nil
}

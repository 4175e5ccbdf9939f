package webhook

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var errNoCursor = errors.New("no saved cursor")

func readCursor(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoCursor
	}
	if err != nil {
		return 0, fmt.Errorf("webhooks: read cursor: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("webhooks: cursor file %s holds %q, not an event ID", path, b)
	}
	return n, nil
}

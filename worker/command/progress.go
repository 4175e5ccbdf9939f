package command

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"kiln/worker"
)

// ProgressFD is the file descriptor a program writes its progress lines to.
const ProgressFD = 3

// parseProgress reads one line a program wrote to ProgressFD: "progress N"
// with N from 0 to 100 (percent), or "progress N/M" with N from 0 to M
// (units done of all there are).
func parseProgress(line string, at time.Time) (worker.Progress, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "progress ")
	if !ok {
		return worker.Progress{}, fmt.Errorf("%q is not \"progress N\" or \"progress N/M\"", line)
	}
	rest = strings.TrimSpace(rest)
	doneText, totalText, frac := strings.Cut(rest, "/")
	done, err := strconv.ParseInt(strings.TrimSpace(doneText), 10, 64)
	if err != nil {
		return worker.Progress{}, fmt.Errorf("%q: %q is not a whole number", line, doneText)
	}
	total := int64(100)
	if frac {
		total, err = strconv.ParseInt(strings.TrimSpace(totalText), 10, 64)
		if err != nil || total <= 0 {
			return worker.Progress{}, fmt.Errorf("%q: %q is not a whole number above 0", line, totalText)
		}
	}
	if done < 0 || done > total {
		return worker.Progress{}, fmt.Errorf("%q: %d is not between 0 and %d", line, done, total)
	}
	return worker.Progress{Done: done, Total: total, At: at}, nil
}

package kilntype

import (
	"fmt"
	"time"
)

// Progress is how far a running job has got, as its handler last said:
// Done of Total units (Total 100 when the handler speaks in percent).
type Progress struct {
	Done  int64     `json:"done"`
	Total int64     `json:"total"`
	At    time.Time `json:"at"` // when it was reported
}

// Percent is Done as a share of Total, 0 to 100.
func (p Progress) Percent() float64 {
	if p.Total <= 0 {
		return 0
	}
	return 100 * float64(min(max(p.Done, 0), p.Total)) / float64(p.Total)
}

// String shows the progress for a person: "42%", or "3/8 (37%)" when the
// units are not percent.
func (p Progress) String() string {
	if p.Total == 100 {
		return fmt.Sprintf("%d%%", p.Done)
	}
	return fmt.Sprintf("%d/%d (%d%%)", p.Done, p.Total, int(p.Percent()))
}

package inbox

import (
	"fmt"
	"os"
	"path/filepath"
)

// recover takes up the pictures a previous run left in .processing: one
// with a ticket is looked up (its job may have ended while kilnd was
// down), one without is submitted again (its job never ran: the unique
// key finds it if it was stored). Tickets without a picture and the temp
// files of a ticket write cut short are removed.
func (b *Inbox) recover() error {
	p, err := scanProcessing(b.processing)
	if err != nil {
		return err
	}
	for _, e := range p.entries {
		it := &item{e: e, state: toSubmit}
		if p.tickets[e.key] {
			it.state, it.lookup = queued, true
		}
		b.items[e.key] = it
	}
	for key := range p.tickets {
		if b.items[key] == nil {
			b.removeLeftover(key + ticketSuffix)
		}
	}
	for _, name := range p.leftovers {
		b.removeLeftover(name)
	}
	if len(p.entries) > 0 {
		b.log.Info("inbox: taking up pictures left in .processing", "pictures", len(p.entries), "tickets", len(p.tickets))
	}
	if p.full {
		return fmt.Errorf("take up %s: more than %d files there; move some back into the inbox", b.processing, maxScanned)
	}
	return nil
}

func (b *Inbox) removeLeftover(name string) {
	if err := os.Remove(filepath.Join(b.processing, name)); err != nil {
		b.log.Warn("inbox: cannot remove a leftover", "file", name, "err", err)
	}
}

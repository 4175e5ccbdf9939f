package inbox

import "sync"

// gates are the inboxes' locks, by .processing directory. An inbox holds
// its gate from the moment it finds a picture without a ticket until the
// submit of its job has returned, and NoteRunning holds it while it
// writes a ticket. So a job cannot start, finish and free its unique key
// between the inbox's look for a ticket and its submit, which would let
// that submit add a second job: either the ticket is there when the inbox
// looks, or the job is still unfinished when the submit arrives and the
// key finds it. Both run in kilnd; an inbox belongs to one kilnd.
var gates sync.Map // string -> *sync.Mutex

func gate(pdir string) *sync.Mutex {
	m, _ := gates.LoadOrStore(pdir, new(sync.Mutex))
	return m.(*sync.Mutex)
}

// Package inbox turns a directory into a hot folder: a picture that
// appears in a pipeline's inbox becomes a job of that pipeline, with no
// client code. kilnd watches the directory with inotify (IN_CLOSE_WRITE
// and IN_MOVED_TO: a file is taken once its writer has closed it, or once
// it was renamed in whole), scans it at start for the files that arrived
// while kilnd was down, and scans it again when the kernel's event queue
// overflowed.
//
// # Where a picture goes
//
// An inbox INBOX holds, besides the pictures dropped in it:
//
//	INBOX/.processing/KEY_NAME   a picture kiln has taken; its job is queued or running
//	INBOX/.processing/KEY.job    the ID of that job, written before the job's first run
//	INBOX/done/NAME              the picture, once its job succeeded (inbox_keep = true)
//	INBOX/failed/NAME            the picture, once it was refused or its job ended dead
//	INBOX/failed/NAME.error.txt  why
//
// Every move is a rename within the inbox, so a picture is never copied
// and never half there.
//
// # A restart at any moment loses no picture and makes no second job
//
// KEY names the picture from what the file is when it is taken: its
// device, inode, name, size and modification time, hashed. It is the job's
// unique key, and the queue adds no job under a key whose job is
// unfinished. The steps are, in order:
//
//  1. Claim: the picture is renamed from INBOX/NAME to
//     INBOX/.processing/KEY_NAME and both directories are synced. Before
//     that point the picture is in the inbox, where the start scan finds
//     it again; after it, in .processing, where the start scan resubmits
//     it. A rename is atomic: the picture is in one place or the other.
//  2. Submit: the job is queued under KEY (durable when the submit
//     returns). A crash before the submit returned leaves a picture in
//     .processing with no ticket, and the start scan submits it again: if
//     the first submit was stored, its job is unfinished (it has not run,
//     see 3), so the key finds it and nothing is added; if not, the job is
//     queued now.
//  3. Ticket: each attempt of the job, before it reads the picture,
//     makes sure KEY.job holds its ID, durably (NoteRunning). So a job
//     that may have finished always has its ticket, and a picture without
//     one has a job that never ran, or none. This closes the one gap a
//     unique key leaves: the queue forgets a key once its job finishes, so
//     a finished job must be found by its ID, never by submitting again.
//  4. Settle: when the job ends (the event log tells, or the ticket's job
//     is looked up), the picture is renamed into done/ (or deleted) or into
//     failed/ beside its NAME.error.txt, the directory is synced, and only
//     then is the ticket removed. A crash before the sync finds the picture
//     in .processing with its ticket, and the start scan looks the job up
//     and settles it again, which is the same move; a crash after it
//     leaves a ticket without a picture, which the start scan removes.
//
// At start, the inbox first notes where the event log ends, then settles
// every picture in .processing whose ticket's job has ended and submits
// again every one without a ticket, then follows the log from the noted
// place: a job that ends while the start runs is seen one way or the
// other, and settling twice is harmless.
//
// A backend without an event log (RabbitMQ) is followed by looking up the
// tickets' jobs every few seconds instead; the unique key still keeps a
// restart from adding a second job for a picture whose job is unfinished.
//
// # A file still being written is never taken
//
// inotify reports IN_CLOSE_WRITE when a writer closes the file and
// IN_MOVED_TO when a file is renamed in: the writer is done, or wrote
// elsewhere and moved the whole file in. Nothing is taken on IN_CREATE or
// IN_MODIFY. The scans (at start, after an overflow, once a minute) cannot
// see who has a file open: /proc shows only this user's processes under
// the unit's sandbox, so a scan takes only files whose modification time
// is older than inbox_settle. Every write(2) sets the modification time,
// so such a file has not been written to for that long; a writer that
// stalls longer than inbox_settle with its file open is the one case
// taken early, and its picture then fails to decode and lands in failed/.
// A file younger than that is looked at again once it is old enough, or
// taken at once when its IN_CLOSE_WRITE comes.
//
// Dot-files and temporary names (.part, .tmp, .swp, .crdownload, and
// names ending in ~) are left alone, as are directories and anything that
// is not a regular file: an uploader writes to such a name and renames it
// when it is whole.
package inbox

package worker

// OutputFile is one file a job wrote.
type OutputFile struct {
	Name   string // what the file is, e.g. the variant's name
	Path   string
	Format string // e.g. "jpeg"; "" when unknown
	Width  int
	Height int
	Bytes  int
}

// OutputLister is implemented by a kind whose jobs write files that an
// operator may look at (an image job's variants). Root is the directory
// every one of them must be inside: whoever serves them refuses a path that
// leaves it, by ".." or by a symlink.
type OutputLister interface {
	Outputs(j *JobRecord) (root string, files []OutputFile)
}

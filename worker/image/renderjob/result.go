package renderjob

// Output describes one written variant.
type Output struct {
	Variant   string `json:"variant"`
	Path      string `json:"path"`
	Format    string `json:"format"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bytes     int    `json:"bytes"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// Result is an image job's result.
type Result struct {
	Outputs   []Output `json:"outputs"`
	DecodeMS  int64    `json:"decode_ms"`
	ElapsedMS int64    `json:"elapsed_ms"`
	WorkerPID int      `json:"worker_pid,omitempty"` // the process that decoded it
	Stages    *Stages  `json:"stages,omitempty"`
}

// Stages is where a job's time went, in milliseconds of the thread that did
// each step; steps that ran at the same time add up to more than the job's
// elapsed time. Operators and benchmarks read it to see what bounds a job.
type Stages struct {
	ReadMS   float64            `json:"read_ms"`   // the input file into memory
	DecodeMS float64            `json:"decode_ms"` // shrink-on-load decodes, with their resize
	ResizeMS float64            `json:"resize_ms"` // resizes and crops from a decoded picture
	EncodeMS map[string]float64 `json:"encode_ms"` // per variant: effects and encoder
	WriteMS  float64            `json:"write_ms"`  // write, fsync, rename, fsync of the directory
	// DecodeThreads and VariantsAtOnce are the libvips threads the
	// picture was decoded on (0: the worker's own number) and how many
	// variants were made at the same time: as many as there were CPUs for
	// this job alone.
	DecodeThreads  int `json:"decode_threads,omitempty"`
	VariantsAtOnce int `json:"variants_at_once,omitempty"`
}

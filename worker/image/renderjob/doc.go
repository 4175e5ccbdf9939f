// Package renderjob is what kilnd and its image workers write to each
// other: the render request with its variants and input limits, the probe
// of a worker's libvips, and their answers, with the checks and the words
// both ends share (input limits, blocked formats, missing encoders). It
// links neither libvips nor the daemon's packages, so that
// kiln-image-worker, which links it with package render, carries only
// what rendering needs.
package renderjob

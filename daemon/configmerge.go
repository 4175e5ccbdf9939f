package daemon

import (
	"math"
	"strconv"
)

// The files of a config are merged into one TOML tree before it is
// decoded, in the order they are read: a table merges key by key, at
// every depth, however it is written ([a.b], a.b.c = 1 or a = { b = ... });
// any other value, an array included, is replaced whole by the next file
// that sets its key. An array of tables ([[pipelines.web.variants]]) is
// an array too: a drop-in that sets one sets the whole list, so that every
// list the daemon uses is written out in one file, where an operator reads
// all of it. Decoding the merged tree then reports a value of the wrong
// type, whichever file set it, as it does for one file.

// configSources says which file set which key of a merged config, and on
// which line: every problem names the file and the line that set its key.
type configSources struct {
	files []sourceFile
	// setBy is, for every key a file sets or a table a file writes into,
	// the index in files of the last file that did. The keys below an
	// array are not listed: the file that set the array set them.
	setBy map[string]int
}

type sourceFile struct {
	name  string
	lines keyLines
}

// mergeTrees merges the parsed files, the first being the main file, into
// one tree, and records who set what.
func mergeTrees(names []string, trees []map[string]any, lines []keyLines) (map[string]any, *configSources) {
	src := &configSources{setBy: map[string]int{}}
	for i, name := range names {
		src.files = append(src.files, sourceFile{name: name, lines: lines[i]})
	}
	merged := map[string]any{}
	for i, tree := range trees {
		src.mergeTable(merged, tree, "", i)
	}
	return merged, src
}

// mergeTable merges the table from into the table into, at key prefix,
// for the file of index file.
func (s *configSources) mergeTable(into, from map[string]any, prefix string, file int) {
	for k, v := range from {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		s.setBy[key] = file
		sub, isTable := v.(map[string]any)
		if !isTable {
			into[k] = v
			continue
		}
		existing, wasTable := into[k].(map[string]any)
		if !wasTable {
			// A table where there was none, or where a value of another
			// kind was: it starts afresh, copied so that a later file's
			// merge does not write into this file's tree.
			existing = map[string]any{}
			into[k] = existing
		}
		s.mergeTable(existing, sub, key, file)
	}
}

// locate finds the file and line of key: the last file that set it (or,
// for a key no file sets, the closest table around it that a file writes
// into), and the line there. A key no file has anything to do with, such
// as one that must be set and is not, is the main file's, without a line.
// order sorts problems by file, then line, and those of keys no file has
// anything to do with last.
func (s *configSources) locate(key string) (name string, line int, order [2]int) {
	file, ok := s.fileOf(key)
	if !ok {
		return s.files[0].name, 0, [2]int{math.MaxInt, math.MaxInt}
	}
	f := s.files[file]
	if n := f.lines.line(key); n > 0 {
		return f.name, n, [2]int{file, n}
	}
	return f.name, 0, [2]int{file, math.MaxInt}
}

// fileOf is the file that set key or its closest parent.
func (s *configSources) fileOf(key string) (int, bool) {
	for k := key; k != ""; k = parentKey(k) {
		if i, ok := s.setBy[k]; ok {
			return i, true
		}
	}
	return 0, false
}

// parentKey is "a.b" for "a.b.c" and for "a.b[2]", "" for "a".
func parentKey(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' || key[i] == '[' {
			return key[:i]
		}
	}
	return ""
}

// origin is where -print-config says a value that a file sets comes
// from: FILE:LINE of the file that set it last.
func (s *configSources) origin(key string) string {
	name, line, _ := s.locate(key)
	if line == 0 {
		return name
	}
	return name + ":" + strconv.Itoa(line)
}

// names are the files of the config, in merge order.
func (s *configSources) names() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.name
	}
	return out
}

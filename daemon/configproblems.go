package daemon

import (
	"fmt"
	"sort"
)

// configProblems collects the problems of a config, each worded
// file:line: key: message, the file and line being those that set the
// key (file: key: message for a key no file sets, under the main file),
// so that the parse and the start checks report alike.
type configProblems struct {
	sources *configSources
	list    []configProblem
}

type configProblem struct {
	// order is the file's place in the merge, then the line.
	order [2]int
	text  string
	// transient is a problem that may go away by itself, such as a name
	// server that did not answer in time: a start that meets only such
	// problems is a failure worth retrying, not a config error.
	transient bool
}

func (p *configProblems) report(key, msg string) { p.add(key, msg, false) }

// Report implements worker.Problems, for the plugins.
func (p *configProblems) Report(key, msg string) { p.add(key, msg, false) }

// ReportTransient implements worker.Problems.
func (p *configProblems) ReportTransient(key, msg string) { p.add(key, msg, true) }

func (p *configProblems) add(key, msg string, transient bool) {
	name, line, order := p.sources.locate(key)
	text := fmt.Sprintf("%s: %s: %s", name, key, msg)
	if line > 0 {
		text = fmt.Sprintf("%s:%d: %s: %s", name, line, key, msg)
	}
	p.list = append(p.list, configProblem{order, text, transient})
}

// err is nil without problems, else a ConfigError listing them in the
// files' order, then each file's, as an editor shows it.
func (p *configProblems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].order, p.list[j].order
		return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
	})
	e := &ConfigError{Transient: true}
	for _, pr := range p.list {
		e.Problems = append(e.Problems, pr.text)
		e.Transient = e.Transient && pr.transient
	}
	return e
}

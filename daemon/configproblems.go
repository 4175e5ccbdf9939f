package daemon

import (
	"fmt"
	"math"
	"sort"
)

// configProblems collects the problems of one config file, each worded
// file:line: key: message (or file: key: message for a key the file does
// not set), so that the parse and the start checks report alike.
type configProblems struct {
	name  string
	lines keyLines
	list  []configProblem
}

type configProblem struct {
	line int
	text string
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
	if n := p.lines.line(key); n > 0 {
		p.list = append(p.list, configProblem{n, fmt.Sprintf("%s:%d: %s: %s", p.name, n, key, msg), transient})
	} else {
		p.list = append(p.list, configProblem{math.MaxInt, fmt.Sprintf("%s: %s: %s", p.name, key, msg), transient})
	}
}

// err is nil without problems, else a ConfigError listing them in the
// file's order, as an editor shows it.
func (p *configProblems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].line < p.list[j].line })
	e := &ConfigError{Transient: true}
	for _, pr := range p.list {
		e.Problems = append(e.Problems, pr.text)
		e.Transient = e.Transient && pr.transient
	}
	return e
}

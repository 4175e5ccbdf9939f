// Package docs holds kiln's documents, by task; its tests keep them
// navigable and true to the source: every link between them resolves, the
// layout names every package there is, and the README names every make
// target.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"kiln/internal/golist"
)

// documents are the Markdown files the links test reads: the README and
// every file of docs/, as paths from the top of the source tree.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("docs/ has no *.md")
	}
	paths := []string{"README.md"}
	for _, d := range docs {
		paths = append(paths, filepath.Join("docs", d))
	}
	return paths
}

// readTop reads a file named by its path from the top of the source tree.
func readTop(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var fence = regexp.MustCompile("^\\s*(```|~~~)")

// prose returns the lines of a Markdown text outside its fenced code
// blocks, with their numbers counted from 1.
func prose(text string) map[int]string {
	lines := map[int]string{}
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if !inFence {
			lines[i+1] = line
		}
	}
	return lines
}

// anchor is the fragment a heading's text gets, as GitHub makes it: lower
// case, punctuation dropped but for - and _, each space a -.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// anchors lists the fragments of a Markdown text's headings; a heading
// met again gets -1, -2, ... as on GitHub.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	lines := prose(text)
	for n := 1; n <= len(strings.Split(text, "\n")); n++ {
		line, ok := lines[n]
		if !ok {
			continue
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := anchor(m[1])
		if k := seen[a]; k > 0 {
			out[a+"-"+strconv.Itoa(k)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

var (
	codeSpan = regexp.MustCompile("`[^`]*`")
	link     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	scheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// linkTargets returns the targets of a Markdown text's links with the
// line each begins on. A link's text may run over a line's end; fenced
// blocks and code spans hold no links.
func linkTargets(text string) (targets []string, lines []int) {
	all := strings.Split(text, "\n")
	kept := prose(text)
	for n := range all {
		if _, ok := kept[n+1]; !ok {
			all[n] = ""
		}
	}
	masked := codeSpan.ReplaceAllStringFunc(strings.Join(all, "\n"), func(span string) string {
		return regexp.MustCompile(`[^\n]`).ReplaceAllString(span, "x")
	})
	for _, m := range link.FindAllStringSubmatchIndex(masked, -1) {
		targets = append(targets, masked[m[2]:m[3]])
		lines = append(lines, 1+strings.Count(masked[:m[0]], "\n"))
	}
	return targets, lines
}

// Every relative link of the README and of docs/ leads to a file that is
// there and, with a #fragment into a Markdown file, to one of its headings.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, doc := range documents(t) {
		targets, lines := linkTargets(readTop(t, doc))
		for k, target := range targets {
			n := lines[k]
			if scheme.MatchString(target) {
				continue // a URL: not this tree's to check
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				file = filepath.Join(filepath.Dir(doc), path)
				if _, err := os.Stat(filepath.Join("..", file)); err != nil {
					t.Errorf("%s:%d: link %s: %s is not there", doc, n, target, file)
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(file, ".md") {
				t.Errorf("%s:%d: link %s: a #fragment into %s, which is not Markdown", doc, n, target, file)
				continue
			}
			if !anchors(readTop(t, file))[frag] {
				t.Errorf("%s:%d: link %s: %s has no heading #%s", doc, n, target, file, frag)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d relative links: the README and docs/ link to one another more than that", checked)
	}
}

// section returns the lines of a Markdown text under the heading that is
// exactly head, up to the next heading of its level or above.
func section(t *testing.T, doc, text, head string) []string {
	t.Helper()
	level := strings.Index(head, " ")
	var out []string
	in := false
	lines := prose(text)
	for n := 1; n <= len(strings.Split(text, "\n")); n++ {
		line, ok := lines[n]
		if !ok {
			continue
		}
		if m := regexp.MustCompile(`^(#+) `).FindStringSubmatch(line); m != nil {
			if in && len(m[1]) <= level {
				break
			}
			if line == head {
				in = true
				continue
			}
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("%s has no section %q", doc, head)
	}
	return out
}

// tableRows returns the rows of the Markdown tables in lines whose first
// cell is a code span: that cell's text and the rest of the row.
func tableRows(lines []string) [][2]string {
	row := regexp.MustCompile("^\\| `([^`]+)` \\|(.*)\\|\\s*$")
	var rows [][2]string
	for _, line := range lines {
		if m := row.FindStringSubmatch(line); m != nil {
			rows = append(rows, [2]string{m[1], strings.TrimSpace(m[2])})
		}
	}
	return rows
}

const layoutDoc = "docs/layout.md"

// The layout's table of packages has one row for each package of the
// module, with a line about it, and none for a package that is not there;
// its table of other directories names directories that are there and
// are no package.
func TestDocsLayoutNamesEveryPackage(t *testing.T) {
	t.Parallel()
	listed, err := golist.Packages("kiln/...")
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) < 20 {
		t.Fatalf("go list kiln/... found only %d packages: %v", len(listed), listed)
	}
	packages := map[string]bool{}
	for _, p := range listed {
		packages[p] = true
	}
	text := readTop(t, layoutDoc)
	rows := tableRows(section(t, layoutDoc, text, "## Packages"))
	named := map[string]bool{}
	for _, r := range rows {
		dir, what := r[0], r[1]
		pkg := "kiln/" + strings.TrimSuffix(dir, "/")
		switch {
		case named[pkg]:
			t.Errorf("%s: %s is named twice", layoutDoc, dir)
		case !packages[pkg]:
			t.Errorf("%s names %s, which is no package of the module (go list kiln/...)", layoutDoc, dir)
		case strings.Trim(what, " |") == "":
			t.Errorf("%s: %s has no line about it", layoutDoc, dir)
		}
		named[pkg] = true
	}
	for _, p := range listed {
		if !named[p] {
			t.Errorf("%s does not name the package %s/: add a row to its table of packages", layoutDoc, strings.TrimPrefix(p, "kiln/"))
		}
	}
	for _, r := range tableRows(section(t, layoutDoc, text, "## Other directories")) {
		dir := strings.TrimSuffix(r[0], "/")
		if fi, err := os.Stat(filepath.Join("..", dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s names the directory %s/, which is not there", layoutDoc, dir)
		}
		if packages["kiln/"+dir] {
			t.Errorf("%s names %s/ among the other directories, but it is a package: move it to the table of packages", layoutDoc, dir)
		}
	}
}

// The README's table of make targets names every target the Makefile
// declares phony, and no other.
func TestDocsReadmeNamesEveryMakeTarget(t *testing.T) {
	t.Parallel()
	makefile := readTop(t, "Makefile")
	m := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindAllStringSubmatch(makefile, -1)
	if m == nil {
		t.Fatal("the Makefile has no .PHONY line")
	}
	var targets []string
	for _, line := range m {
		targets = append(targets, strings.Fields(line[1])...)
	}
	rows := section(t, "README.md", readTop(t, "README.md"), "## The make targets")
	named := map[string]bool{}
	for _, line := range rows {
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		for _, t := range regexp.MustCompile("`make ([a-z0-9-]+)`").FindAllStringSubmatch(first, -1) {
			named[t[1]] = true
		}
		if regexp.MustCompile("`make`").MatchString(first) {
			named["all"] = true
		}
	}
	for _, target := range targets {
		if !named[target] {
			t.Errorf("README.md, \"## The make targets\", does not name make %s", target)
		}
	}
	for target := range named {
		if !slices.Contains(targets, target) {
			t.Errorf("README.md, \"## The make targets\", names make %s, which the Makefile does not declare", target)
		}
	}
}

package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// keyLines maps each key of a TOML document to the line it is on, so that a
// validation error can point the operator at the line to fix. Keys inside an
// array of tables are recorded both with their index
// ("pipelines.web.variants[1].width") and without it, as the TOML decoder
// names them.
type keyLines map[string]int

var (
	tableHeader      = regexp.MustCompile(`^\s*\[\s*([^\[\]]+?)\s*\]\s*$`)
	arrayTableHeader = regexp.MustCompile(`^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*$`)
	keyValue         = regexp.MustCompile(`^\s*([A-Za-z0-9_\-."' ]+?)\s*=`)
)

func scanKeyLines(data []byte) keyLines {
	lines := keyLines{}
	record := func(key string, n int) {
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	arrayCount := map[string]int{}
	table := ""      // current table as written, with array indices
	plainTable := "" // the same without indices
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := stripComment(sc.Text())
		if m := arrayTableHeader.FindStringSubmatch(line); m != nil {
			name := normalizeKey(m[1])
			i := arrayCount[name]
			arrayCount[name]++
			table, plainTable = fmt.Sprintf("%s[%d]", name, i), name
			record(table, n)
			record(plainTable, n)
			continue
		}
		if m := tableHeader.FindStringSubmatch(line); m != nil {
			table = normalizeKey(m[1])
			plainTable = table
			record(table, n)
			continue
		}
		if m := keyValue.FindStringSubmatch(line); m != nil {
			key := normalizeKey(m[1])
			if table != "" {
				record(table+"."+key, n)
				record(plainTable+"."+key, n)
			} else {
				record(key, n)
			}
		}
	}
	return lines
}

// line finds the line of key or, failing that, of its closest parent.
func (k keyLines) line(key string) int {
	for key != "" {
		if n, ok := k[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// stripComment drops a trailing # comment that is not inside a string.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case quote == 0 && r == '#':
			return line[:i]
		}
	}
	return line
}

package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"kiln/daemon"
)

// printPasswordHash reads one line, the password, and prints the field
// that stands for it in the tokens file.
func printPasswordHash() int {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintf(os.Stderr, "kilnd: read the password from stdin: %v\n", err)
		return daemon.ExitUsage
	}
	field, err := daemon.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kilnd: %v\n", err)
		return daemon.ExitUsage
	}
	fmt.Println(field)
	return daemon.ExitOK
}

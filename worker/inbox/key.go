package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
)

// keyLen is the length of a picture's key in hex digits: 80 bits, so that
// two pictures of one inbox never share one.
const keyLen = 20

// keyOf names a picture from what its file is when it is taken: device,
// inode, name, size and modification time. The same file taken twice (the
// start scan meets it again after a crash undid its rename) has the same
// key; another file has another, even under a name used before.
func keyOf(st fs.FileInfo, name string) string {
	var dev, ino uint64
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		dev, ino = s.Dev, s.Ino
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%d\x00%s\x00%d\x00%d", dev, ino, name, st.Size(), st.ModTime().UnixNano()))
	return hex.EncodeToString(sum[:])[:keyLen]
}

func isKey(s string) bool {
	if len(s) != keyLen {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// uniqueKeyPrefix starts the unique key of every job an inbox submits.
const uniqueKeyPrefix = "inbox/"

// UniqueKey is the unique key of the job of the picture of key in
// pipeline's inbox.
func UniqueKey(pipeline, key string) string { return uniqueKeyPrefix + pipeline + "/" + key }

// parseUniqueKey reads UniqueKey back; ok is false for a job no inbox
// submitted.
func parseUniqueKey(s string) (pipeline, key string, ok bool) {
	rest, ok := strings.CutPrefix(s, uniqueKeyPrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 || !isKey(rest[i+1:]) {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func itoa(n int) string { return strconv.Itoa(n) }

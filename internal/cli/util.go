package cli

import (
	"os"
	"strconv"
)

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// count writes n and noun, in the plural when n is not 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

package charts

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkLinks refuses a chart directory holding a symbolic link that
// resolves outside the chart (files/env -> /proc/self/environ, say): Helm's
// loader follows links, and the chart's templates could then read, and
// deploy, any file helm-service can read.
func checkLinks(dir string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("chart %s: %w", dir, err)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", dir, err)
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("chart %s: symbolic link %s cannot be resolved: %w", dir, rel, err)
		}
		if !within(root, target) {
			link, _ := os.Readlink(path)
			return fmt.Errorf("chart %s: symbolic link %s points outside the chart (to %s); helm-service refuses it: copy what it should hold into the chart", dir, rel, link)
		}
		return nil
	})
}

// within reports whether path is root or below it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

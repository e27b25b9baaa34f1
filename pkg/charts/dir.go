package charts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// Dir loads charts from a directory tree. For a service it looks, in order,
// at <root>/<project>/<stage>/<service>, <root>/<project>/<service> and
// <root>/<service>, each either an unpacked chart directory or the same path
// with ".tgz" appended. The first one found wins.
type Dir struct {
	Root string
	// MaxBytes refuses a chart whose files add up to more (for a .tgz:
	// whose archive is larger, or unpacks to more), before it is read into
	// memory. 0 leaves only Helm's own limits.
	MaxBytes int64
}

// Candidates returns the paths Load tries for ref, in order.
func (d Dir) Candidates(ref Ref) []string {
	bases := []string{
		filepath.Join(d.Root, ref.Project, ref.Stage, ref.Service),
		filepath.Join(d.Root, ref.Project, ref.Service),
		filepath.Join(d.Root, ref.Service),
	}
	paths := make([]string, 0, 2*len(bases))
	for _, b := range bases {
		paths = append(paths, b, b+".tgz")
	}
	return paths
}

// Load implements Source.
func (d Dir) Load(ctx context.Context, ref Ref) (*chart.Chart, error) {
	candidates := d.Candidates(ref)
	for _, path := range candidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", path, err)
		}
		if info.IsDir() == strings.HasSuffix(path, ".tgz") {
			continue // a directory named *.tgz, or a file where a chart directory belongs
		}
		if info.IsDir() {
			if err := checkLinks(path); err != nil {
				return nil, err
			}
		}
		if d.MaxBytes > 0 {
			if err := d.checkSize(path, info); err != nil {
				return nil, err
			}
		}
		c, err := loader.Load(path)
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", path, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w for service %q: looked for a chart directory or .tgz at %s (set CHART_DIR to the directory that holds the charts)",
		ErrNotFound, ref.Service, strings.Join(candidates, ", "))
}

// checkSize refuses the chart at path when it is larger than MaxBytes.
func (d Dir) checkSize(path string, info fs.FileInfo) error {
	if info.IsDir() {
		return checkDirSize(path, d.MaxBytes)
	}
	return checkArchiveSize(path, info.Size(), d.MaxBytes)
}

package charts

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"helm.sh/helm/v3/pkg/ignore"
)

// DefaultMaxBytes is the default limit on a chart's size: a tenth of the
// 100 MiB Helm's loader allows a packaged chart to unpack to. A release
// stores its chart in a Kubernetes Secret of at most 1 MiB (compressed), so
// charts near this size already fail at install.
const DefaultMaxBytes = 10 << 20

// TooLargeError is returned by Dir.Load for a chart larger than its limit.
type TooLargeError struct {
	// Path is the chart directory or archive.
	Path string
	// Size is what was counted: the sum of a directory's files, or an
	// archive's own size.
	Size  int64
	Limit int64
	// What was over the limit: the directory's files, the archive, or
	// what the archive unpacks to.
	What Measure
}

// Measure is what TooLargeError measured.
type Measure int

const (
	// MeasureFiles is the sum of a chart directory's files.
	MeasureFiles Measure = iota
	// MeasurePackaged is the size of a .tgz.
	MeasurePackaged
	// MeasureUnpacked is what a .tgz unpacks to.
	MeasureUnpacked
)

func (e *TooLargeError) Error() string {
	switch e.What {
	case MeasurePackaged:
		return fmt.Sprintf("chart %s is %s packaged, more than the %s allowed (raise MAX_CHART_BYTES)",
			e.Path, formatBytes(e.Size), formatBytes(e.Limit))
	case MeasureUnpacked:
		return fmt.Sprintf("chart %s is %s packaged but unpacks to more than the %s allowed (raise MAX_CHART_BYTES)",
			e.Path, formatBytes(e.Size), formatBytes(e.Limit))
	default:
		return fmt.Sprintf("chart %s holds %s of files, more than the %s allowed (raise MAX_CHART_BYTES, or leave files out of the chart with .helmignore)",
			e.Path, formatBytes(e.Size), formatBytes(e.Limit))
	}
}

// checkDirSize sums the sizes of the files Helm would load from the chart
// directory dir (those .helmignore does not exclude), without reading them,
// but for packed subcharts, which count with what they unpack to.
func checkDirSize(dir string, limit int64) error {
	rules := ignore.Empty()
	ignoreFile := filepath.Join(dir, ignore.HelmIgnore)
	if _, err := os.Stat(ignoreFile); err == nil {
		if rules, err = ignore.ParseFile(ignoreFile); err != nil {
			return fmt.Errorf("chart %s: read %s: %w", dir, ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	size := chartSize{limit: limit}
	err := sumDir(dir, "", rules, &size, 0)
	if err != nil && !errors.Is(err, errOverLimit) {
		return fmt.Errorf("chart %s: %w", dir, err)
	}
	if size.total > limit {
		return &TooLargeError{Path: dir, Size: size.total, Limit: limit, What: MeasureFiles}
	}
	return nil
}

// maxLinkDepth bounds how many symbolic links to directories are followed
// in a row, as Helm's loader follows them too.
const maxLinkDepth = 16

// sumDir adds the files under root/rel to size, following symbolic links
// as Helm's loader does.
func sumDir(root, rel string, rules *ignore.Rules, size *chartSize, depth int) error {
	if depth > maxLinkDepth {
		return fmt.Errorf("more than %d nested symbolic links at %s", maxLinkDepth, rel)
	}
	entries, err := os.ReadDir(filepath.Join(root, rel))
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := filepath.Join(rel, e.Name())
		full := filepath.Join(root, name)
		info, err := os.Stat(full) // follows links
		if err != nil {
			return err
		}
		if rules.Ignore(filepath.ToSlash(name), info) {
			continue
		}
		if info.IsDir() {
			next := depth
			if e.Type()&fs.ModeSymlink != 0 {
				next++
			}
			if err := sumDir(root, name, rules, size, next); err != nil {
				return err
			}
			continue
		}
		open := func() (io.ReadCloser, error) { return os.Open(full) }
		if err := size.addFile(filepath.ToSlash(name), info.Size(), open, 0); err != nil {
			return err
		}
	}
	return nil
}

// checkArchiveSize checks a packaged chart's file size, then the size it
// unpacks to, reading the archive as a stream (never all of it at once).
func checkArchiveSize(path string, size, limit int64) error {
	if size > limit {
		return &TooLargeError{Path: path, Size: size, Limit: limit, What: MeasurePackaged}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	defer f.Close()
	return checkUnpackedSize(path, f, size, limit)
}

// checkUnpackedSize reads a packaged chart as a stream and refuses it once
// the files it unpacks to, packed subcharts unpacked too, add up to more
// than limit.
func checkUnpackedSize(path string, r io.Reader, size, limit int64) error {
	unzipped, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("chart %s is not a gzipped archive: %w", path, err)
	}
	defer unzipped.Close()
	unpacked := chartSize{limit: limit}
	err = unpacked.addArchive(unzipped, 0)
	if errors.Is(err, errOverLimit) {
		return &TooLargeError{Path: path, Size: size, Limit: limit, What: MeasureUnpacked}
	}
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return nil
}

// maxSubchartDepth bounds how deep packed subcharts may nest in packed
// subcharts.
const maxSubchartDepth = 8

// errOverLimit stops a chartSize count once its total is over the limit.
var errOverLimit = errors.New("over the size limit")

// chartSize adds up what Helm's loader unpacks a chart's files to. The
// loader unpacks a packed subchart (a .tgz in a charts/ directory) itself,
// with no limit of helm-service's, so such a file counts with what it
// unpacks to, read as a stream; any other file counts with its size.
type chartSize struct {
	total, limit int64
}

// isPackedSubchart says whether Helm's loader unpacks the chart file name
// (slash-separated) as a subchart.
func isPackedSubchart(name string) bool {
	return path.Ext(name) == ".tgz" && path.Base(path.Dir(name)) == "charts"
}

// addFile adds the chart file name of size bytes. open reads the file; it
// is called for packed subcharts only, which stop the count with
// errOverLimit as soon as the total is over the limit. depth is how many
// packed subcharts the file is in.
func (s *chartSize) addFile(name string, size int64, open func() (io.ReadCloser, error), depth int) error {
	if !isPackedSubchart(name) {
		s.total += size
		return nil
	}
	if depth >= maxSubchartDepth {
		return fmt.Errorf("%s: packed subcharts nest more than %d deep", name, maxSubchartDepth)
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	unzipped, err := gzip.NewReader(rc)
	if err != nil {
		// Not gzip: Helm's loader refuses it, after reading it as it is.
		s.total += size
		return nil
	}
	defer unzipped.Close()
	if err := s.addArchive(unzipped, depth+1); err != nil {
		if errors.Is(err, errOverLimit) {
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// addArchive adds the files of the tar stream r, a packaged chart inside
// depth packed subcharts, and stops with errOverLimit once the total is
// over the limit.
func (s *chartSize) addArchive(r io.Reader, depth int) error {
	archive := tar.NewReader(r)
	for {
		hdr, err := archive.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		open := func() (io.ReadCloser, error) { return io.NopCloser(archive), nil }
		if err := s.addFile(hdr.Name, hdr.Size, open, depth); err != nil {
			return err
		}
		if s.total > s.limit {
			return errOverLimit
		}
	}
}

// formatBytes writes n in bytes, with MiB or KiB for readers.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d bytes (%.1f KiB)", n, float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

package charts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// writeSizedChart writes the chart carts at root/carts with a file
// files/blob of blobBytes zero bytes (which compress to almost nothing),
// unpacked or packed as root/carts.tgz, and returns its path.
func writeSizedChart(t *testing.T, root string, blobBytes int, packed bool) string {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "carts", Version: "1.0.0"},
		Values:   map[string]any{"image": "example/carts"},
		Files:    []*chart.File{{Name: "files/blob", Data: make([]byte, blobBytes)}},
	}
	if packed {
		saved, err := chartutil.Save(c, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "carts.tgz")
		if err := os.Rename(saved, dst); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	if err := chartutil.SaveDir(c, root); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "carts")
}

var cartsRef = Ref{Project: "sockshop", Stage: "staging", Service: "carts"}

// expectTooLarge checks that err is a TooLargeError for path and that it
// names the chart and the setting, and says each of wants.
func expectTooLarge(t *testing.T, err error, path string, wants ...string) {
	t.Helper()
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Path != path {
		t.Fatalf("Load: %v, want a TooLargeError for %s", err, path)
	}
	for _, want := range append([]string{path, "MAX_CHART_BYTES"}, wants...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDirRefusesLargeChartDirectory(t *testing.T) {
	root := t.TempDir()
	path := writeSizedChart(t, root, 200<<10, false)
	var total int64
	err := filepath.WalkDir(path, func(_ string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = Dir{Root: root, MaxBytes: 100 << 10}.Load(context.Background(), cartsRef)
	expectTooLarge(t, err, path, fmt.Sprintf("holds %d bytes", total), "more than the 102400 bytes (100.0 KiB) allowed")

	c, err := Dir{Root: root, MaxBytes: total}.Load(context.Background(), cartsRef)
	if err != nil {
		t.Fatalf("a chart of exactly the limit: %v", err)
	}
	if len(c.Files) != 1 || len(c.Files[0].Data) != 200<<10 {
		t.Errorf("loaded files %v, want files/blob of 200 KiB", c.Files)
	}
}

func TestDirSizeLeavesOutHelmIgnoredFiles(t *testing.T) {
	root := t.TempDir()
	path := writeSizedChart(t, root, 1<<10, false)
	// Large files Helm does not load: ignored by .helmignore, and ignored
	// by Helm's defaults (dot files under templates/).
	if err := os.WriteFile(filepath.Join(path, ".helmignore"), []byte("*.iso\nbuild/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"build", "templates"} {
		if err := os.MkdirAll(filepath.Join(path, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"disk.iso", "build/out.bin", "templates/.scratch"} {
		if err := os.WriteFile(filepath.Join(path, name), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (Dir{Root: root, MaxBytes: 64 << 10}).Load(context.Background(), cartsRef); err != nil {
		t.Fatalf("ignored files counted: %v", err)
	}
	if err := os.WriteFile(filepath.Join(path, "files", "big.txt"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Dir{Root: root, MaxBytes: 64 << 10}.Load(context.Background(), cartsRef)
	expectTooLarge(t, err, path)
}

// A link is counted where Helm loads it: a directory .helmignore leaves out
// still counts through a link to it. (A link out of the chart is refused
// before any counting, see TestDirRefusesLinksOutOfTheChart.)
func TestDirSizeFollowsSymbolicLinks(t *testing.T) {
	root := t.TempDir()
	path := writeSizedChart(t, root, 1<<10, false)
	stash := filepath.Join(path, "stash")
	if err := os.MkdirAll(stash, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stash, "big.bin"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, ".helmignore"), []byte("stash/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Dir{Root: root, MaxBytes: 64 << 10}).Load(context.Background(), cartsRef); err != nil {
		t.Fatalf("an ignored directory counted: %v", err)
	}
	if err := os.Symlink("../stash", filepath.Join(path, "files", "linked")); err != nil {
		t.Fatal(err)
	}
	_, err := Dir{Root: root, MaxBytes: 64 << 10}.Load(context.Background(), cartsRef)
	expectTooLarge(t, err, path)
}

func TestDirRefusesLargePackedChart(t *testing.T) {
	root := t.TempDir()
	// Random bytes do not compress: the archive itself is over the limit.
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "carts", Version: "1.0.0"},
		Files:    []*chart.File{{Name: "files/noise", Data: randomBytes(t, 300<<10)}},
	}
	saved, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "carts.tgz")
	if err := os.Rename(saved, path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dir{Root: root, MaxBytes: 100 << 10}.Load(context.Background(), cartsRef)
	expectTooLarge(t, err, path, fmt.Sprintf("is %d bytes", info.Size()), "packaged, more than the 102400 bytes")
}

func TestDirRefusesPackedChartThatUnpacksTooLarge(t *testing.T) {
	root := t.TempDir()
	path := writeSizedChart(t, root, 4<<20, true) // 4 MiB of zeros: a few KiB packed
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 64<<10 {
		t.Fatalf("archive is %d bytes; the case needs it under the limit", info.Size())
	}
	_, err = Dir{Root: root, MaxBytes: 1 << 20}.Load(context.Background(), cartsRef)
	expectTooLarge(t, err, path, "unpacks to more than the 1048576 bytes (1.0 MiB) allowed")

	if _, err := (Dir{Root: root, MaxBytes: 5 << 20}).Load(context.Background(), cartsRef); err != nil {
		t.Fatalf("under a 5 MiB limit: %v", err)
	}
}

func TestDirWithoutLimitLoadsLargeCharts(t *testing.T) {
	root := t.TempDir()
	writeSizedChart(t, root, 2<<20, true)
	if _, err := (Dir{Root: root}).Load(context.Background(), cartsRef); err != nil {
		t.Fatalf("MaxBytes 0: %v", err)
	}
}

func TestDirBrokenArchiveNamesTheFile(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "carts.tgz")
	if err := os.WriteFile(path, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Dir{Root: root, MaxBytes: DefaultMaxBytes}.Load(context.Background(), cartsRef)
	var tooLarge *TooLargeError
	if err == nil || errors.As(err, &tooLarge) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name the broken archive %s", err, path)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := range b { // xorshift: incompressible, reproducible
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

package repocache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const setting = "CHART_GIT_CACHE_DIR"

func TestOpenMakesTheDirectoryPrivateAndCleansIt(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	left := strings.Repeat("ab", 16)
	for _, p := range []string{left + "/objects/pack", "notes/keep"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(dir, 1<<20, setting)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir() != dir {
		t.Errorf("dir %s, want %s", c.Dir(), dir)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("permissions %o, want 700", perm)
	}
	if diff := cmp.Diff([]string{"notes"}, dirNames(t, dir)); diff != "" {
		t.Errorf("after Open, only what an earlier run's cache made is removed (-want +got):\n%s", diff)
	}
}

func TestOpenRefuses(t *testing.T) {
	parent := t.TempDir()
	target := filepath.Join(parent, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(parent, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	others := filepath.Join(parent, "others")
	if err := os.Mkdir(others, 0o700); err != nil {
		t.Fatal(err)
	}
	canChown := os.Chown(others, os.Getuid()+1000, -1) == nil
	for name, tc := range map[string]struct {
		dir      string
		maxBytes int64
		want     string
		skip     bool
	}{
		"a symbolic link": {link, 1 << 20, "is not a directory (a symbolic link?)", false},
		"a file":          {file, 1 << 20, setting, false},
		"another user's":  {others, 1 << 20, "belongs to user", !canChown},
		"no size bound":   {filepath.Join(parent, "new"), 0, "must be positive", false},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.skip {
				t.Skip("this user cannot give a directory to another user")
			}
			if _, err := Open(tc.dir, tc.maxBytes, setting); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s): %v, want an error saying %q", tc.dir, err, tc.want)
			}
		})
	}
}

// Entries are removed least recently used first once the cache is over its
// bound; an entry in use is kept, and one over the bound alone is removed
// when released.
func TestEviction(t *testing.T) {
	type step struct {
		key   string
		bytes int  // written into the entry before its release
		hold  bool // not released (in use)
	}
	for name, tc := range map[string]struct {
		steps []step
		want  []string // keys whose entries are left
	}{
		"within the bound": {[]step{{"a", 1000, false}, {"b", 1000, false}}, []string{"a", "b"}},
		"least recently used out": {
			[]step{{"a", 1000, false}, {"b", 1000, false}, {"c", 1000, false}, {"a", 0, false}, {"d", 1000, false}},
			[]string{"a", "c", "d"},
		},
		"in use kept": {
			[]step{{"a", 1000, true}, {"b", 1000, false}, {"c", 1000, false}, {"d", 1500, false}},
			[]string{"a", "c", "d"},
		},
		"alone over the bound": {[]step{{"a", 1000, false}, {"big", 4000, false}}, []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Open(t.TempDir(), 3000, setting)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			paths := map[string]string{}
			for _, s := range tc.steps {
				e, err := c.Acquire(ctx, s.key)
				if err != nil {
					t.Fatal(err)
				}
				paths[s.key] = e.Path()
				if s.bytes > 0 {
					if err := os.WriteFile(filepath.Join(e.Path(), "data"), make([]byte, s.bytes), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if !s.hold {
					if err := e.Release(false); err != nil {
						t.Fatal(err)
					}
				}
			}
			var left []string
			for key, p := range paths {
				if _, err := os.Stat(p); err == nil {
					left = append(left, key)
				}
			}
			slices.Sort(left)
			if diff := cmp.Diff(tc.want, left); diff != "" {
				t.Errorf("entries left (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAcquireWaitsForTheEntrysUser(t *testing.T) {
	c, err := Open(t.TempDir(), 1<<20, setting)
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Acquire(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire of an entry in use: %v, want it to wait until the deadline", err)
	}
	other, err := c.Acquire(context.Background(), "b")
	if err != nil {
		t.Fatalf("another entry: %v", err)
	}
	if err := other.Release(false); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		e, err := c.Acquire(context.Background(), "a")
		if err == nil {
			err = e.Release(true)
		}
		got <- err
	}()
	if err := first.Release(false); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Acquire after the release: %v", err)
	}
	if n, _ := c.Len(); n != 1 {
		t.Errorf("%d entries after a discard, want 1", n)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

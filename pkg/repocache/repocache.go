// Package repocache keeps one directory per key (a git repository's
// branch) under a private directory of helm-service's, bounded in total
// size: the least recently used directories are removed to stay within it.
package repocache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
)

// DefaultDirName is the directory under os.TempDir a Cache uses when no
// directory is given.
const DefaultDirName = "helm-service-git"

// entryName is how the directories a Cache makes are named: nothing else
// in its directory is ever removed.
var entryName = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Cache is a directory of entries, each a subdirectory for one key, bounded
// to MaxBytes on disk in total. An entry is used by one caller at a time;
// entries in use are never removed.
type Cache struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	order   *list.List // of *entry; front: most recently used
	entries map[string]*list.Element
	bytes   int64 // measured size of all entries, as of their last release
}

type entry struct {
	name  string
	size  int64
	inUse chan struct{} // holds one token while the entry is used
}

// Open makes dir (os.TempDir()/DefaultDirName when empty) private to this
// user, refusing a link or another user's directory, removes the entries
// an earlier run left there, and returns a cache bounded to maxBytes. what
// names the setting of the directory in errors.
func Open(dir string, maxBytes int64, what string) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("the size bound of %s must be positive, got %d", what, maxBytes)
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), DefaultDirName)
	}
	if err := privateDir(dir, what); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, dir, err)
	}
	for _, n := range names {
		if entryName.MatchString(n.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, n.Name())); err != nil {
				return nil, fmt.Errorf("%s %s: remove what an earlier run left: %w", what, dir, err)
			}
		}
	}
	return &Cache{dir: dir, maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}, nil
}

// privateDir makes dir, readable by this user only; a directory there
// already must be a real directory of this user's (not a link another
// user of a shared /tmp planted).
func privateDir(dir, what string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s %s: %w", what, dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("%s %s is not a directory (a symbolic link?): point %s at a directory of helm-service's own", what, dir, what)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s %s belongs to user %d, not to helm-service's user %d: point %s at a directory of its own", what, dir, st.Uid, os.Getuid(), what)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%s %s: make it private: %w", what, dir, err)
		}
	}
	return nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// MaxBytes is the bound of the entries' total size.
func (c *Cache) MaxBytes() int64 { return c.maxBytes }

// Entry is one key's directory, in use until Release.
type Entry struct {
	c *Cache
	e *entry
}

// Acquire returns key's entry, waiting while another caller uses it. Its
// directory exists, empty for a key not seen (or removed) before.
func (c *Cache) Acquire(ctx context.Context, key string) (*Entry, error) {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:16])
	c.mu.Lock()
	el, ok := c.entries[name]
	if !ok {
		el = c.order.PushFront(&entry{name: name, inUse: make(chan struct{}, 1)})
		c.entries[name] = el
	}
	c.order.MoveToFront(el)
	e := el.Value.(*entry)
	c.mu.Unlock()
	select {
	case e.inUse <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	// Removed while waiting: take the place again.
	if cur, ok := c.entries[name]; !ok || cur.Value.(*entry) != e {
		if ok {
			c.mu.Unlock()
			<-e.inUse
			return c.Acquire(ctx, key)
		}
		c.entries[name] = c.order.PushFront(e)
	}
	c.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(c.dir, name), 0o700); err != nil {
		<-e.inUse
		return nil, fmt.Errorf("cache directory for %s: %w", key, err)
	}
	return &Entry{c: c, e: e}, nil
}

// Path is the entry's directory.
func (e *Entry) Path() string { return filepath.Join(e.c.dir, e.e.name) }

// Size measures the bytes the entry's files take now.
func (e *Entry) Size() (int64, error) { return dirSize(e.Path()) }

// Release measures the entry, ends its use and removes the least recently
// used entries not in use (this one last, if it alone is over the bound)
// until the cache is within its bound. With discard, the entry is removed
// in any case.
func (e *Entry) Release(discard bool) error {
	c := e.c
	size, err := e.Size()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { <-e.e.inUse }()
	if err != nil || discard || size > c.maxBytes {
		c.drop(e.e)
		return errors.Join(err, os.RemoveAll(e.Path()))
	}
	c.bytes += size - e.e.size
	e.e.size = size
	var errs []error
	for el := c.order.Back(); el != nil && c.bytes > c.maxBytes; {
		prev := el.Prev()
		if v := el.Value.(*entry); v != e.e {
			select {
			case v.inUse <- struct{}{}:
				c.drop(v)
				errs = append(errs, os.RemoveAll(filepath.Join(c.dir, v.name)))
				<-v.inUse
			default: // in use: measured again when its user releases it
			}
		}
		el = prev
	}
	return errors.Join(errs...)
}

// drop forgets e; c.mu is held.
func (c *Cache) drop(e *entry) {
	el, ok := c.entries[e.name]
	if !ok || el.Value.(*entry) != e {
		return
	}
	c.order.Remove(el)
	delete(c.entries, e.name)
	c.bytes -= e.size
}

// Len returns the number of entries and their total size as last measured.
func (c *Cache) Len() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}

func dirSize(dir string) (int64, error) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
		}
		return nil
	})
	return size, err
}

package charts

import (
	"container/list"
	"fmt"
	"sync"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// Cache keeps the files of fetched charts in memory, keyed by what makes
// them immutable (an OCI manifest digest, a git commit), so that deploying
// the same chart again loads it without fetching. It evicts the least
// recently used charts beyond MaxEntries charts or MaxBytes bytes. A nil
// *Cache caches nothing.
//
// Each Load builds a fresh *chart.Chart from the cached files: Helm may change
// a chart while installing it, so loaded charts are never shared.
type Cache struct {
	maxEntries int
	maxBytes   int64

	mu      sync.Mutex
	order   *list.List // front: most recently used
	entries map[string]*list.Element
	bytes   int64
}

type cacheEntry struct {
	key   string
	files []*loader.BufferedFile
	size  int64
}

// NewCache returns a cache bounded to maxEntries charts and maxBytes bytes of
// chart files. With either bound at zero or below it returns nil: no cache.
func NewCache(maxEntries int, maxBytes int64) *Cache {
	if maxEntries <= 0 || maxBytes <= 0 {
		return nil
	}
	return &Cache{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

// Load returns a chart built from the files cached under key, and whether
// there were any.
func (c *Cache) Load(key string) (*chart.Chart, bool, error) {
	if c == nil {
		return nil, false, nil
	}
	c.mu.Lock()
	el, ok := c.entries[key]
	if ok {
		c.order.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	// The loader may rename the files it is given; it gets copies. The
	// contents are shared: nothing writes to them.
	cached := el.Value.(*cacheEntry).files
	files := make([]*loader.BufferedFile, len(cached))
	for i, f := range cached {
		files[i] = &loader.BufferedFile{Name: f.Name, Data: f.Data}
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, true, fmt.Errorf("load cached chart %s: %w", key, err)
	}
	return ch, true, nil
}

// Add caches files under key, evicting the least recently used charts to
// stay within bounds. Files larger than the whole cache are not kept.
func (c *Cache) Add(key string, files []*loader.BufferedFile) {
	if c == nil {
		return
	}
	var size int64
	for _, f := range files {
		size += int64(len(f.Name) + len(f.Data))
	}
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, files: files, size: size})
	c.bytes += size
	for c.order.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.order.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.order.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// Len returns the number of cached charts and their size in bytes.
func (c *Cache) Len() (entries int, bytes int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}

// loadFiles builds a chart from files, caches them under key, and names
// where they came from on error.
func (c *Cache) loadFiles(key, from string, files []*loader.BufferedFile) (*chart.Chart, error) {
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", from, err)
	}
	c.Add(key, files)
	return ch, nil
}

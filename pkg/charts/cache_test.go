package charts

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

func chartFilesOf(name string, size int) []*loader.BufferedFile {
	return []*loader.BufferedFile{
		{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n")},
		{Name: "values.yaml", Data: []byte("pad: " + strings.Repeat("x", size) + "\n")},
	}
}

func cachedNames(c *Cache, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if ch, ok, err := c.Load(k); ok && err == nil {
			out = append(out, ch.Metadata.Name)
		}
	}
	return out
}

func TestCacheEvictsLeastRecentlyUsedByCount(t *testing.T) {
	c := NewCache(2, 1<<20)
	c.Add("a", chartFilesOf("a", 10))
	c.Add("b", chartFilesOf("b", 10))
	cachedNames(c, "a") // a is now more recent than b
	c.Add("c", chartFilesOf("c", 10))
	if got := cachedNames(c, "a", "b", "c"); strings.Join(got, ",") != "a,c" {
		t.Errorf("cached %v, want a,c (b least recently used)", got)
	}
	if n, _ := c.Len(); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
}

func TestCacheEvictsBySize(t *testing.T) {
	c := NewCache(100, 2500)
	c.Add("a", chartFilesOf("a", 1000))
	c.Add("b", chartFilesOf("b", 1000))
	c.Add("c", chartFilesOf("c", 1000))
	if got := cachedNames(c, "a", "b", "c"); strings.Join(got, ",") != "b,c" {
		t.Errorf("cached %v, want b,c", got)
	}
	if _, size := c.Len(); size > 2500 {
		t.Errorf("cache holds %d bytes, above its 2500", size)
	}
	c.Add("huge", chartFilesOf("huge", 5000))
	if got := cachedNames(c, "huge", "b", "c"); strings.Join(got, ",") != "b,c" {
		t.Errorf("a chart larger than the cache changed it: %v", got)
	}
}

func TestCacheLoadsAFreshChartEachTime(t *testing.T) {
	c := NewCache(10, 1<<20)
	c.Add("k", chartFilesOf("k", 1))
	first, _, _ := c.Load("k")
	first.Values["pad"] = "changed"
	first.Metadata.Name = "changed"
	second, _, err := c.Load("k")
	if err != nil {
		t.Fatal(err)
	}
	if second.Values["pad"] != "x" || second.Metadata.Name != "k" {
		t.Errorf("a change to one loaded chart shows in the next: %v %s", second.Values, second.Metadata.Name)
	}
}

func TestCacheDisabled(t *testing.T) {
	for _, c := range []*Cache{NewCache(0, 100), NewCache(10, 0)} {
		c.Add("k", chartFilesOf("k", 1))
		if _, ok, _ := c.Load("k"); ok {
			t.Error("a disabled cache returned a chart")
		}
	}
}

// namedSource returns a chart named after itself.
type namedSource string

func (n namedSource) Load(context.Context, Ref) (*chart.Chart, error) {
	return &chart.Chart{Metadata: &chart.Metadata{Name: string(n)}}, nil
}

func TestExplicitChooses(t *testing.T) {
	e := Explicit{Default: namedSource("default"), Override: namedSource("override")}
	for ref, want := range map[Ref]string{{Service: "carts"}: "default", {Service: "carts", Chart: "oci://x/y"}: "override"} {
		ch, err := e.Load(context.Background(), ref)
		if err != nil || ch.Metadata.Name != want {
			t.Errorf("Load(%+v) = %v, %v; want %s", ref, ch.Metadata.Name, err, want)
		}
	}
}

package helm

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// countingTransport answers every request with the request's method and
// path and a number that grows with each request, and counts them.
type countingTransport struct {
	mu    sync.Mutex
	calls int
	body  func(n int, req *http.Request) string
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.mu.Unlock()
	status := http.StatusOK
	if strings.HasSuffix(req.URL.Path, "/missing") {
		status = http.StatusNotFound
	}
	body := req.Method + " " + req.URL.Path + " #" + string(rune('0'+n))
	if c.body != nil {
		body = c.body(n, req)
	}
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func do(t *testing.T, rt http.RoundTripper, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const objectURL = "https://cluster/api/v1/namespaces/ns/configmaps/cm"

func TestUpdateReadsAnswerRepeatedReadsDuringAnUpdate(t *testing.T) {
	next := &countingTransport{}
	reads := new(updateReads)
	rt := reads.wrap(next)

	done := reads.during()
	_, first := do(t, rt, http.MethodGet, objectURL)
	_, again := do(t, rt, http.MethodGet, objectURL)
	if next.calls != 1 || again != first {
		t.Fatalf("two reads in an update: %d requests, answers %q and %q; want one request, the same answer", next.calls, first, again)
	}
	// A read of something not found is remembered too: Helm then creates it.
	for range 2 {
		if code, _ := do(t, rt, http.MethodGet, "https://cluster/api/v1/namespaces/ns/configmaps/missing"); code != http.StatusNotFound {
			t.Fatalf("status %d, want 404", code)
		}
	}
	if next.calls != 2 {
		t.Fatalf("%d requests after two reads of a missing object, want 2", next.calls)
	}
	// A write forgets what was read.
	do(t, rt, http.MethodPatch, objectURL)
	_, after := do(t, rt, http.MethodGet, objectURL)
	if next.calls != 4 || after == first {
		t.Fatalf("a read after a write: %d requests, answer %q; want a fresh read (4 requests)", next.calls, after)
	}
	// Watches are never answered from memory.
	do(t, rt, http.MethodGet, objectURL+"?watch=true")
	do(t, rt, http.MethodGet, objectURL+"?watch=true")
	if next.calls != 6 {
		t.Fatalf("%d requests after two watches, want 6", next.calls)
	}
	done()

	// Outside an update every read goes to the cluster: the wait reads the
	// workloads over and over for their status.
	do(t, rt, http.MethodGet, objectURL)
	do(t, rt, http.MethodGet, objectURL)
	if next.calls != 8 {
		t.Fatalf("%d requests after two reads outside an update, want 8", next.calls)
	}
}

// An object too large to remember is passed on whole, and read again.
func TestUpdateReadsPassLargeObjectsWhole(t *testing.T) {
	large := strings.Repeat("x", maxMemoBody+10)
	next := &countingTransport{body: func(int, *http.Request) string { return large }}
	reads := new(updateReads)
	rt := reads.wrap(next)
	defer reads.during()()
	for range 2 {
		if _, body := do(t, rt, http.MethodGet, objectURL); body != large {
			t.Fatalf("body of %d bytes, want %d", len(body), len(large))
		}
	}
	if next.calls != 2 {
		t.Fatalf("%d requests, want 2", next.calls)
	}
}

package helm

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"helm.sh/helm/v3/pkg/kube"
)

// Helm's update of a release's objects reads each object up to three times
// in a row: to see that it exists, again to build the three-way patch, and
// a third time when the patch is empty, to refresh its copy. Nothing
// changes the object in between but the update itself, so while an update
// runs, updateReads answers a repeated read of an object from the first,
// and any write forgets every read: the next read goes to the cluster.
// Outside an update (the wait's reads of the workloads, above all) it
// passes every request through.
type updateReads struct {
	mu       sync.Mutex
	updating bool
	read     map[string]*readResponse
}

// readResponse is what the cluster answered a read: a found object or a
// not-found status.
type readResponse struct {
	status int
	header http.Header
	body   []byte
}

// during marks an update as running until the returned func is called.
func (u *updateReads) during() (done func()) {
	u.mu.Lock()
	u.updating = true
	u.read = map[string]*readResponse{}
	u.mu.Unlock()
	return func() {
		u.mu.Lock()
		u.updating = false
		u.read = nil
		u.mu.Unlock()
	}
}

// wrap returns rt with the repeated reads of an update answered by u.
func (u *updateReads) wrap(rt http.RoundTripper) http.RoundTripper {
	return &updateReadsTransport{reads: u, next: rt}
}

type updateReadsTransport struct {
	reads *updateReads
	next  http.RoundTripper
}

// maxMemoBody bounds one remembered read; a larger object is read afresh.
const maxMemoBody = 1 << 20

// RoundTrip implements http.RoundTripper.
func (t *updateReadsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := t.reads
	read := req.Method == http.MethodGet && req.URL.Query().Get("watch") == ""
	key := req.Header.Get("Accept") + " " + req.URL.String() // a typed and an unstructured client read one URL in two encodings
	u.mu.Lock()
	updating := u.updating
	switch {
	case !updating:
	case !read:
		clear(u.read)
	case u.read[key] != nil:
		got := u.read[key]
		u.mu.Unlock()
		return got.response(req), nil
	}
	u.mu.Unlock()

	resp, err := t.next.RoundTrip(req)
	if err != nil || !updating || !read || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMemoBody+1))
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("read the answer to GET %s: %w", req.URL.Path, err)
	}
	if len(body) > maxMemoBody {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	got := &readResponse{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	u.mu.Lock()
	if u.updating && u.read != nil {
		u.read[key] = got
	}
	u.mu.Unlock()
	return got.response(req), nil
}

func (r *readResponse) response(req *http.Request) *http.Response {
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(r.body)),
		ContentLength: int64(len(r.body)),
		Request:       req,
	}
}

// Update implements kube.Interface: Helm's update, its repeated reads of
// each object answered from the first (see updateReads).
func (c *waitingClient) Update(original, target kube.ResourceList, force bool) (*kube.Result, error) {
	if c.reads != nil {
		defer c.reads.during()()
	}
	return c.Client.Update(original, target, force)
}

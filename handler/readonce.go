package handler

import (
	"context"
	"sync"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
)

// readOnceReleases is a Releases that, in a context from withReadOnce,
// reads each release record once: a later Get of a release read before in
// that context returns the same record, or the same error, until a write
// through it (upgrade, rollback, uninstall) changes the release. A task
// holds its releases while it runs, so nobody else changes them meanwhile;
// a task run again after an error reads afresh, in a context of its own.
type readOnceReleases struct {
	Releases
}

// readOnceReleasesOf wraps r; nil and NoCluster stay as they are.
func readOnceReleasesOf(r Releases) Releases {
	if r == nil || isNoCluster(r) {
		return r
	}
	return readOnceReleases{r}
}

type readOnceKey struct{}

// readRecords are the records read in one context, by namespace/name.
type readRecords struct {
	mu   sync.Mutex
	read map[string]readRecord
}

type readRecord struct {
	rec *helm.Record
	err error
}

// withReadOnce returns a context in which readOnceReleases reads each
// record once: ctx itself when it is one already.
func withReadOnce(ctx context.Context) context.Context {
	if readOnceOf(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, readOnceKey{}, &readRecords{read: map[string]readRecord{}})
}

func readOnceOf(ctx context.Context) *readRecords {
	r, _ := ctx.Value(readOnceKey{}).(*readRecords)
	return r
}

func (r readOnceReleases) Get(ctx context.Context, namespace, name string) (*helm.Record, error) {
	return getOnce(ctx, r.Releases, namespace, name)
}

// getOnce reads a release record with r, once per context from
// withReadOnce (see readOnceReleases); outside one, every time.
func getOnce(ctx context.Context, r ReleaseReader, namespace, name string) (*helm.Record, error) {
	read := readOnceOf(ctx)
	if read == nil {
		return r.Get(ctx, namespace, name)
	}
	key := namespace + "/" + name
	read.mu.Lock()
	got, ok := read.read[key]
	read.mu.Unlock()
	if ok {
		return got.rec, got.err
	}
	rec, err := r.Get(ctx, namespace, name)
	read.mu.Lock()
	read.read[key] = readRecord{rec: rec, err: err}
	read.mu.Unlock()
	return rec, err
}

// changed forgets what was read of a release that is being written.
func (r readOnceReleases) changed(ctx context.Context, namespace, name string) {
	if read := readOnceOf(ctx); read != nil {
		read.mu.Lock()
		delete(read.read, namespace+"/"+name)
		read.mu.Unlock()
	}
}

func (r readOnceReleases) Upgrade(ctx context.Context, req helm.Request) (*helm.Result, error) {
	defer r.changed(ctx, req.Namespace, req.Name)
	return r.Releases.Upgrade(ctx, req)
}

func (r readOnceReleases) Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*helm.Result, error) {
	defer r.changed(ctx, namespace, name)
	return r.Releases.Rollback(ctx, namespace, name, timeout)
}

func (r readOnceReleases) Uninstall(ctx context.Context, namespace, name string, timeout time.Duration) error {
	defer r.changed(ctx, namespace, name)
	return r.Releases.Uninstall(ctx, namespace, name, timeout)
}

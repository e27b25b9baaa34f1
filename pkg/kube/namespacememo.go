package kube

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// A task reads its namespace more than once before it deploys: the
// ownership check (Claim), then Ensure, then perhaps the deployer's
// identity (ActAs). In a context from WithNamespaceMemo the first read is
// kept and serves the others, until a write of the namespace through this
// package (create, label, delete) forgets it. It is for one attempt of one
// task: a namespace changed by someone else meanwhile is seen as a read a
// moment earlier would have seen it.

type namespaceMemoKey struct{}

// WithNamespaceMemo returns a context in which each namespace is read
// once (see above): ctx itself when it is one already.
func WithNamespaceMemo(ctx context.Context) context.Context {
	if namespaceMemoFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, namespaceMemoKey{}, &namespaceMemo{read: map[string]namespaceRead{}})
}

func namespaceMemoFrom(ctx context.Context) *namespaceMemo {
	m, _ := ctx.Value(namespaceMemoKey{}).(*namespaceMemo)
	return m
}

type namespaceMemo struct {
	mu   sync.Mutex
	read map[string]namespaceRead
}

type namespaceRead struct {
	ns  *corev1.Namespace
	err error // a not-found error is kept too; other errors are not
}

// getNamespace reads namespace name, once per context from
// WithNamespaceMemo; outside one, every time.
func getNamespace(ctx context.Context, cs kubernetes.Interface, name string) (*corev1.Namespace, error) {
	memo := namespaceMemoFrom(ctx)
	if memo == nil {
		return cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	}
	memo.mu.Lock()
	got, ok := memo.read[name]
	memo.mu.Unlock()
	if ok {
		if got.err != nil {
			return nil, got.err
		}
		return got.ns.DeepCopy(), nil
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	memo.mu.Lock()
	memo.read[name] = namespaceRead{ns: ns.DeepCopy(), err: err}
	memo.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// namespaceWritten forgets what was read of namespace name in ctx.
func namespaceWritten(ctx context.Context, name string) {
	if memo := namespaceMemoFrom(ctx); memo != nil {
		memo.mu.Lock()
		delete(memo.read, name)
		memo.mu.Unlock()
	}
}

package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// clientTo returns a clientset for an API server at host with short
// timeouts.
func clientTo(t *testing.T, host string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: host, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestUnreachableOnRealClientErrors(t *testing.T) {
	ctx := context.Background()

	// A port nothing listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	_, err = EnsureNamespace(ctx, clientTo(t, closed), "shop-prod", nil)
	if !Unreachable(err) {
		t.Errorf("stopped API server: Unreachable(%v) = false", err)
	}

	// A server that answers too slowly: timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	_, err = EnsureNamespace(ctx, clientTo(t, slow.URL), "shop-prod", nil)
	if !Unreachable(err) {
		t.Errorf("hanging API server: Unreachable(%v) = false", err)
	}

	// A server that says it is unavailable, and one that refuses the
	// request for good.
	for code, want := range map[int]bool{http.StatusServiceUnavailable: true, http.StatusForbidden: false, http.StatusUnprocessableEntity: false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":%d,"message":"said %d"}`, code, code)
		}))
		_, err = EnsureNamespace(ctx, clientTo(t, srv.URL), "shop-prod", nil)
		srv.Close()
		if got := Unreachable(err); got != want {
			t.Errorf("API server answering %d: Unreachable(%v) = %v, want %v", code, err, got, want)
		}
	}
}

func TestUnreachableByKind(t *testing.T) {
	gr := schema.GroupResource{Resource: "deployments"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("chart is broken"), false},
		{context.Canceled, false},
		// A wait that ran out of time: the workloads did not get ready.
		{fmt.Errorf("helm install of release shop-dev/carts: %w", context.DeadlineExceeded), false},
		{apierrors.NewNotFound(gr, "carts"), false},
		{apierrors.NewConflict(gr, "carts", errors.New("changed")), false},
		{apierrors.NewBadRequest("bad"), false},
		{apierrors.NewInternalError(errors.New("webhook failed")), false},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewTimeoutError("slow", 1), true},
		{apierrors.NewServerTimeout(gr, "get", 1), true},
		{&apierrors.StatusError{ErrStatus: metav1.Status{Code: http.StatusGatewayTimeout}}, true},
		{fmt.Errorf("helm upgrade: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}), false},
		// Helm's flattened text of a refused connection.
		{errors.New(`UPGRADE FAILED: unable to build kubernetes objects: Get "https://127.0.0.1:6443/openapi/v3": dial tcp 127.0.0.1:6443: connect: connection refused`), true},
		{errors.New(`create: failed to create: Post "https://127.0.0.1:6443/api/v1/namespaces/x/secrets": http2: client connection lost`), true},
	} {
		if got := Unreachable(c.err); got != c.want {
			t.Errorf("Unreachable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

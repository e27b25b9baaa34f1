package helm

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRetryable(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("connection refused"), true},
		{apierrors.NewServiceUnavailable("etcd leader changed"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{fmt.Errorf("check: %w", apierrors.NewInternalError(errors.New("boom"))), true},
		{apierrors.NewNotFound(gr, "carts"), false},
		{apierrors.NewForbidden(gr, "carts", errors.New("no RBAC")), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

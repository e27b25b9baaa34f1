package handler

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/helm-service/helm-service/pkg/helm"
)

// TestRetryRulesPassOnlyWhatPasses: which failures the retry rules let
// pass, the pause a pending release gets, and the messages on giving up.
func TestRetryRulesPassOnlyWhatPasses(t *testing.T) {
	rules := retryRules(time.Minute, 15*time.Minute)
	pending := &helm.PendingError{Namespace: "shop", Name: "carts", Status: "pending-upgrade", Revision: 2, RecoverAfter: 3 * time.Second}
	type verdict struct {
		Rule  string // "" when none matches
		Pause time.Duration
	}
	for _, tc := range []struct {
		name string
		err  error
		want verdict
	}{
		{name: "connection refused", err: refused(), want: verdict{Rule: "cluster unreachable", Pause: time.Second}},
		{name: "API server 503", err: apierrors.NewServiceUnavailable("etcd is down"), want: verdict{Rule: "cluster unreachable", Pause: time.Second}},
		{name: "a wait that timed out is not an outage", err: fmt.Errorf("%w: %w", helm.ErrWaitTimeout, refused())},
		{name: "a refused request", err: apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", errors.New("rbac"))},
		{name: "pending record: wait until it is old enough", err: fmt.Errorf("upgrade: %w", pending), want: verdict{Rule: "release pending", Pause: 3*time.Second + 100*time.Millisecond}},
		{name: "pending by Helm's word: the backoff", err: helm.ErrPendingRelease, want: verdict{Rule: "release pending", Pause: time.Second}},
		{name: "a broken chart", err: errors.New("template: carts/templates/deployment.yaml:3: unexpected EOF")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got verdict
			for _, r := range rules {
				if r.Matches(tc.err) {
					got.Rule, got.Pause = r.Name, time.Second
					if r.Pause != nil {
						got.Pause = r.Pause(tc.err, time.Second, 16*time.Second)
					}
					break
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}

	// A pending record that recovers only in an hour pauses no longer than
	// the backoff's ceiling.
	late := &helm.PendingError{RecoverAfter: time.Hour}
	if got := rules[1].Pause(late, time.Second, 16*time.Second); got != 16*time.Second {
		t.Errorf("pause for a late record %s, want the ceiling 16s", got)
	}

	gaveUp := []string{
		rules[0].GiveUp(61*time.Second+300*time.Millisecond, time.Minute, 7, refused()).Error(),
		rules[1].GiveUp(15*time.Minute+time.Second, 15*time.Minute, 4, pending).Error(),
	}
	want := []string{
		"the Kubernetes API server was unreachable for 1m1s, longer than helm-service waits for it (CLUSTER_RETRY_TIMEOUT 1m0s); gave up after 7 attempts, the last of which failed with: " + refused().Error(),
		"the release stayed pending for the 15m1s helm-service waited (PENDING_RETRY_TIMEOUT 15m0s); gave up after 4 attempts: " + pending.Error(),
	}
	if diff := cmp.Diff(want, gaveUp); diff != "" {
		t.Errorf("messages on giving up (-want +got):\n%s", diff)
	}
}

package handler

import (
	"errors"
	"fmt"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/retry"
)

// retryRules are the failures of a task that pass: the Kubernetes API
// server is unreachable (for up to clusterTimeout), or the release is
// pending (for up to pendingTimeout, pausing until a pending record is old
// enough to be recovered). A zero timeout answers such a failure at once.
func retryRules(clusterTimeout, pendingTimeout time.Duration) []retry.Rule {
	return []retry.Rule{{
		Name:    "cluster unreachable",
		Matches: func(err error) bool { return kube.Unreachable(err) && !errors.Is(err, helm.ErrWaitTimeout) },
		Budget:  clusterTimeout,
		GiveUp: func(down, budget time.Duration, attempts int, err error) error {
			return fmt.Errorf("the Kubernetes API server was unreachable for %s, longer than helm-service waits for it (CLUSTER_RETRY_TIMEOUT %s); gave up after %d attempts, the last of which failed with: %w",
				down.Round(time.Second), budget, attempts, err)
		},
	}, {
		Name:    "release pending",
		Matches: helm.Pending,
		Budget:  pendingTimeout,
		Pause: func(err error, backoff, ceiling time.Duration) time.Duration {
			var pe *helm.PendingError
			if errors.As(err, &pe) {
				// Run again once the record is old enough to recover, or
				// sooner in case its operation ends.
				return min(pe.RecoverAfter+100*time.Millisecond, ceiling)
			}
			return backoff
		},
		GiveUp: func(waited, budget time.Duration, attempts int, err error) error {
			return fmt.Errorf("the release stayed pending for the %s helm-service waited (PENDING_RETRY_TIMEOUT %s); gave up after %d attempts: %w",
				waited.Round(time.Second), budget, attempts, err)
		},
	}}
}

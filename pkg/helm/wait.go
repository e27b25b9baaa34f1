package helm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"

	kubeinfo "github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// readinessPoll is how often a wait checks the release's resources. Helm's
// own waiter polls every 2 s, which is most of the time of a small deploy.
const readinessPoll = 250 * time.Millisecond

// waitingClient is Helm's Kubernetes client with a faster wait: the same
// readiness rules as Helm (kube.ReadyChecker), checked every readinessPoll.
// Everything else is Helm's own client.
type waitingClient struct {
	*kube.Client
	log func(string, ...any)
	// ctx is the context of the action the client serves: Helm's wait
	// takes none, and its span is a child of the action's.
	ctx      context.Context
	observer Observer
}

// Wait implements kube.Interface.
func (c *waitingClient) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return c.wait(resources, timeout, false)
}

// WaitWithJobs implements kube.Interface.
func (c *waitingClient) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return c.wait(resources, timeout, true)
}

func (c *waitingClient) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) (err error) {
	_, span := tracing.Start(c.ctx, "helm.wait", attribute.Int("k8s.resources", len(resources)), attribute.String("helm.wait.timeout", timeout.String()))
	defer func() { tracing.End(span, err) }()
	cs, err := c.Factory.KubernetesClientSet()
	if err != nil {
		return err
	}
	if c.observer != nil {
		defer timed(c.observer, "wait")()
	}
	checker := kube.NewReadyChecker(cs, c.log, kube.PausedAsReady(true), kube.CheckJobs(jobs))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var lastErr error
	err = wait.PollUntilContextCancel(ctx, readinessPoll, true, func(ctx context.Context) (bool, error) {
		for _, r := range resources {
			ready, err := checker.IsReady(ctx, r)
			if err != nil {
				if !retryable(err) {
					return false, err
				}
				lastErr = err
				return false, nil
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		if lastErr != nil {
			// The API server failed the checks: the timeout is its doing.
			return errors.Join(err, lastErr)
		}
		return fmt.Errorf("%w (%s): %w", ErrWaitTimeout, timeout, err)
	}
	return err
}

// ErrWaitTimeout is the error of a readiness wait that ran out of time
// while the API server answered every check: the workloads are not ready,
// and running the task again right away would not make them so.
var ErrWaitTimeout = errors.New("timed out waiting for the workloads to be ready")

// retryable reports whether a readiness check error may pass: API errors
// that say the server is busy or broken, and errors that are not API errors
// at all (connection problems).
func retryable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	code := int(status.Status().Code)
	return code == 0 || code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
}

// diagnoseTimeout bounds the reads that explain a failed wait; the task's own
// context may already be spent when they run.
const diagnoseTimeout = 10 * time.Second

// notReady describes the workloads that are not ready, or "" when all are.
func (c *Client) notReady(ctx context.Context, workloads []kubeinfo.Workload) string {
	if c.clientset == nil || len(workloads) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	return strings.Join(kubeinfo.NotReady(ctx, c.clientset, workloads), "; ")
}

package helm

import (
	"context"
	"strings"
	"time"

	"github.com/helm-service/helm-service/pkg/kube"
)

// diagnoseTimeout bounds the reads that explain a failed wait; the task's own
// context may already be spent when they run.
const diagnoseTimeout = 10 * time.Second

// notReady describes the workloads that are not ready, or "" when all are.
func (c *Client) notReady(ctx context.Context, workloads []kube.Workload) string {
	if c.clientset == nil || len(workloads) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	return strings.Join(kube.NotReady(ctx, c.clientset, workloads), "; ")
}

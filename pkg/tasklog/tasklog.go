// Package tasklog carries a task's logger in its context, so that code
// deep in a task (Helm actions, publishing) logs with the task's fields:
// Keptn context, triggered id, project, stage and service.
package tasklog

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// With returns ctx carrying log.
func With(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

// From returns the logger ctx carries, or fallback when it carries none.
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if log, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && log != nil {
		return log
	}
	return fallback
}

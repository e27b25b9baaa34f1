package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Unreachable reports whether err says the Kubernetes API server could not
// be reached or could not serve the request for now (it is stopped,
// restarting or overloaded), rather than that the request was wrong: a
// refused, reset or timed out connection, or an API status of 429, 502,
// 503 or 504 (ServiceUnavailable, ServerTimeout, Timeout, TooManyRequests).
// A task that failed this way is worth running again once the API server is
// back.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	for _, errno := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true // the connection dropped mid-response
	}
	var netErr net.Error
	// A bare context.DeadlineExceeded also says Timeout, but outside a
	// request (url.Error) it is a deadline of helm-service's own: a wait
	// for workloads that did not get ready.
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.Timeout() {
		return true
	}
	if errors.As(err, &netErr) && netErr.Timeout() && !errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch status.Status().Code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err)
	}
	// Helm flattens some errors of the Kubernetes client into text (its
	// release storage and resource builders format them with %s), so the
	// chain above is gone; these are the messages the Go net stack and
	// client-go give an unreachable server.
	msg := err.Error()
	for _, s := range unreachableMessages {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var unreachableMessages = []string{
	"connect: connection refused",
	"read: connection reset by peer",
	"write: broken pipe",
	": i/o timeout",
	"net/http: TLS handshake timeout",
	"http2: client connection lost",
	"http2: server sent GOAWAY",
	"the server is currently unable to handle the request",
	"apiserver is shutting down",
}

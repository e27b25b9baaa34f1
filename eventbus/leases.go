package eventbus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket opens the key-value bucket of release leases, creating it
// when missing. An entry not renewed for ttl expires: the lease of a
// replica that died frees itself. It needs JetStream mode.
func (b *Bus) LeaseBucket(ctx context.Context, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	if b.js == nil {
		return nil, errors.New("a lease bucket needs JetStream (NATS_MODE=jetstream)")
	}
	return b.openBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "helm-service: which replica works on which release",
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
	})
}

package eventbus

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Auth holds how helm-service proves itself to the NATS server. Set at most
// one of user/password, token and credentials file; TLS combines with any.
type Auth struct {
	User     string
	Password string
	Token    string
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// NKeyFile is a file holding an NKey seed.
	NKeyFile string
	// TLSCAFile verifies the server; TLSCertFile and TLSKeyFile are a
	// client certificate, for servers that ask for one.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string
}

// natsOptions returns the connection options for the credentials.
func (a Auth) natsOptions() ([]nats.Option, error) {
	var opts []nats.Option
	kinds := 0
	if a.User != "" || a.Password != "" {
		kinds++
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		kinds++
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CredsFile != "" {
		kinds++
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeyFile != "" {
		kinds++
		opt, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read NKey seed %s: %w", a.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if kinds > 1 {
		return nil, errors.New("NATS credentials: set only one of user/password, token, credentials file and NKey seed file")
	}
	if a.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(a.TLSCAFile))
	}
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		return nil, errors.New("NATS TLS: set both the client certificate and its key, or neither")
	}
	if a.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(a.TLSCertFile, a.TLSKeyFile))
	}
	return opts, nil
}

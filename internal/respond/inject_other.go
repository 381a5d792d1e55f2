//go:build !linux

package respond

import "errors"

// Injector sends frames; only Linux has one.
type Injector struct{ Name string }

// OpenInjector fails off Linux.
func OpenInjector(iface string) (*Injector, error) {
	return nil, errors.New("--inject-interface: sending frames needs Linux (AF_PACKET)")
}

// Send fails.
func (in *Injector) Send([]byte) error { return errors.New("no injector") }

// Close does nothing.
func (in *Injector) Close() error { return nil }

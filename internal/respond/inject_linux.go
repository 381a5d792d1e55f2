package respond

import (
	"fmt"
	"net"
	"syscall"
)

// Injector sends whole frames (link header included) on one interface
// through an AF_PACKET socket that receives nothing (protocol 0).
type Injector struct {
	fd   int
	addr syscall.SockaddrLinklayer
	Name string
}

// OpenInjector opens a packet socket bound for sending on iface.
func OpenInjector(iface string) (*Injector, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("--inject-interface %s: %w", iface, err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--inject-interface %s: packet socket: %w (needs CAP_NET_RAW)", iface, err)
	}
	return &Injector{fd: fd, Name: iface, addr: syscall.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}}, nil
}

// Send writes one frame.
func (in *Injector) Send(frame []byte) error {
	if len(frame) >= 6 {
		copy(in.addr.Addr[:6], frame[:6])
	}
	return syscall.Sendto(in.fd, frame, 0, &in.addr)
}

// Close closes the socket.
func (in *Injector) Close() error { return syscall.Close(in.fd) }

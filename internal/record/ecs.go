package record

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// ECSVersion is the version of the Elastic Common Schema the documents
// follow (ecs.version): field names and types are checked against its
// generated/ecs/ecs_flat.yml.
const ECSVersion = "9.4.0"

// Module is event.module and observer.product: the name Elastic's apps
// group psmtap's documents by.
const Module = "psmtap"

var namespace atomic.Pointer[string]

// SetNamespace sets data_stream.namespace of every document written from
// now on (--es-namespace); "default" until it is called. The namespace is
// one per process: the data streams are named after it.
func SetNamespace(ns string) {
	if ns == "" {
		ns = "default"
	}
	namespace.Store(&ns)
}

// Namespace is data_stream.namespace.
func Namespace() string {
	if p := namespace.Load(); p != nil {
		return *p
	}
	return "default"
}

// Facts is what a protocol object adds to its document's ECS fields:
// related.* and what ECS names for the endpoints.
type Facts struct {
	Users  []string // related.user: names claimed or used (an RDP cookie, a client-side user)
	Hosts  []string // related.hosts: host names seen (TLS SNI, an RDP client's name)
	Hashes []string // related.hash: fingerprints (HASSH, JA3/JA3S/JA4, host key and certificate digests)
	Domain string   // destination.domain: the server's name as the client asked for it (TLS SNI)
}

// FactSource is a protocol object (Record.Objects, Event.Objects) that has
// Facts to add.
type FactSource interface {
	AddFacts(f *Facts)
}

type dataStream struct {
	Type      string `json:"type"`
	Dataset   string `json:"dataset"`
	Namespace string `json:"namespace"`
}

func newDataStream(dataset string) dataStream {
	return dataStream{Type: "logs", Dataset: dataset, Namespace: Namespace()}
}

type ecsMeta struct {
	Version string `json:"version"`
}

// Related is related.*: every address, user, host name and fingerprint a
// document names, for the pivots of Elastic Security.
type Related struct {
	IP    []string `json:"ip,omitempty"`
	User  []string `json:"user,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	Hash  []string `json:"hash,omitempty"`
}

// set is an ordered set of strings (first seen first).
type set []string

func (s *set) add(vs ...string) {
	for _, v := range vs {
		if v == "" {
			continue
		}
		dup := false
		for _, x := range *s {
			if x == v {
				dup = true
				break
			}
		}
		if !dup {
			*s = append(*s, v)
		}
	}
}

// relatedOf gathers related.* from the endpoints, the users and the
// protocol objects; domain is what the objects say destination.domain is.
func relatedOf(client, server netip.AddrPort, users []string, proxy *Proxy, objects map[string]any) (r *Related, domain string) {
	var ips, us, hosts, hashes set
	for _, a := range []netip.AddrPort{client, server} {
		if a.Addr().IsValid() {
			ips.add(a.Addr().Unmap().String())
		}
	}
	us.add(users...)
	if proxy != nil {
		us.add(proxy.User)
		host, _, err := net.SplitHostPort(proxy.Target)
		if err != nil {
			host = proxy.Target
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ips.add(ip.Unmap().String())
		} else {
			hosts.add(host)
		}
	}
	var f Facts
	for _, name := range sortedNames(objects) {
		if fs, ok := objects[name].(FactSource); ok {
			fs.AddFacts(&f)
		}
	}
	us.add(f.Users...)
	hosts.add(f.Hosts...)
	hashes.add(f.Hashes...)
	return &Related{IP: ips, User: us, Hosts: hosts, Hash: hashes}, f.Domain
}

// networkType is network.type: ipv4 or ipv6 (an IPv4-mapped address is IPv4).
func networkType(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return ""
	case a.Unmap().Is4():
		return "ipv4"
	}
	return "ipv6"
}

// RelatedFields is the event's related.* and destination.domain, as its
// JSON writes them (the rules read events field by field).
func (e *Event) RelatedFields() (r *Related, domain string) {
	return relatedOf(e.Client, e.Server, []string{e.UserName}, e.Proxy, e.Objects)
}

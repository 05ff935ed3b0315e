// Package mdns answers multicast DNS (RFC 6762) queries for the box's
// .local names on chosen LAN interfaces: an A record with the address the
// box has on the interface the query came in on. It only answers; it never
// browses or probes, so it sends nothing on a network nobody asks on.
package mdns

import (
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"
)

// Group is the IPv4 mDNS group and port.
var Group = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}

// TTL is the record lifetime announced (RFC 6762 recommends 120 s for
// host address records).
const TTL = 120

// Options configure New.
type Options struct {
	// Interfaces to answer on; each must be up and multicast-capable.
	Interfaces []net.Interface
	// Address, when set, is the one IPv4 address answered (the router's
	// listen address); otherwise each interface's own first IPv4 address.
	Address net.IP
	Logger  hclog.Logger
}

// Responder answers for a set of names. Close stops it.
type Responder struct {
	log   hclog.Logger
	names atomic.Pointer[map[string]bool]
	conns []*ifaceConn
	wg    sync.WaitGroup
}

type ifaceConn struct {
	iface net.Interface
	conn  *net.UDPConn
	ip    net.IP
}

// New joins the mDNS group on each interface and starts answering (for no
// names until SetNames).
func New(o Options) (*Responder, error) {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if len(o.Interfaces) == 0 {
		return nil, errors.New("mdns: no interfaces to answer on")
	}
	r := &Responder{log: o.Logger}
	empty := map[string]bool{}
	r.names.Store(&empty)
	for _, ifi := range o.Interfaces {
		ip := o.Address.To4()
		if ip == nil {
			ip = firstIPv4(ifi)
		}
		if ip == nil {
			r.log.Warn("mdns: interface has no IPv4 address; not answering there", "interface", ifi.Name)
			continue
		}
		c, err := net.ListenMulticastUDP("udp4", &ifi, Group)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.conns = append(r.conns, &ifaceConn{iface: ifi, conn: c, ip: ip})
	}
	if len(r.conns) == 0 {
		return nil, errors.New("mdns: none of the interfaces has an IPv4 address")
	}
	for _, ic := range r.conns {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.serve(ic)
		}()
	}
	return r, nil
}

// SetNames replaces the names answered for (e.g. box.local).
func (r *Responder) SetNames(names []string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[dns.Fqdn(strings.ToLower(n))] = true
	}
	r.names.Store(&m)
}

// Close leaves the group and waits for the answering goroutines. Names
// simply stop being answered; their TTL lets caches forget them.
func (r *Responder) Close() error {
	var errs []error
	for _, ic := range r.conns {
		errs = append(errs, ic.conn.Close())
	}
	r.wg.Wait()
	return errors.Join(errs...)
}

func (r *Responder) serve(ic *ifaceConn) {
	buf := make([]byte, 9000)
	for {
		n, from, err := ic.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.log.Warn("mdns: read failed; no longer answering", "interface", ic.iface.Name, "error", err)
			}
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || q.Opcode != dns.OpcodeQuery {
			continue
		}
		resp := r.answer(&q, ic.ip, from.Port != Group.Port)
		if resp == nil {
			continue
		}
		out, err := resp.Pack()
		if err != nil {
			continue
		}
		// A legacy (one-shot) querier from another port, or one asking
		// for a unicast reply (QU bit), is answered directly; others on
		// the group.
		to := Group
		if from.Port != Group.Port || unicastAsked(&q) {
			to = from
		}
		ic.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := ic.conn.WriteToUDP(out, to); err != nil {
			r.log.Debug("mdns: answer not sent", "to", to, "error", err)
		}
	}
}

// answer builds the reply to q, or nil when none of its questions is ours.
// legacy replies (RFC 6762 section 6.7) echo the id and the question.
func (r *Responder) answer(q *dns.Msg, ip net.IP, legacy bool) *dns.Msg {
	names := *r.names.Load()
	resp := &dns.Msg{}
	resp.Response, resp.Authoritative = true, true
	for _, question := range q.Question {
		name := strings.ToLower(question.Name)
		if !names[name] {
			continue
		}
		qtype := question.Qtype
		if qtype != dns.TypeA && qtype != dns.TypeANY {
			continue
		}
		class := uint16(dns.ClassINET)
		if !legacy {
			class |= 1 << 15 // cache-flush: this box is the only owner of the name
		}
		resp.Answer = append(resp.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: class, Ttl: TTL},
			A:   ip,
		})
	}
	if len(resp.Answer) == 0 {
		return nil
	}
	if legacy {
		resp.Id = q.Id
		resp.Question = q.Question
	}
	return resp
}

func unicastAsked(q *dns.Msg) bool {
	for _, question := range q.Question {
		if question.Qclass&(1<<15) != 0 {
			return true
		}
	}
	return false
}

func firstIPv4(ifi net.Interface) net.IP {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4()
		}
	}
	return nil
}

// InterfacesFor are the interfaces mDNS should answer on for a router
// listening on host: the one holding that address, or every up,
// multicast-capable, non-loopback interface for an unspecified address;
// none for loopback (no LAN to answer on).
func InterfacesFor(host string) ([]net.Interface, error) {
	ip := net.ParseIP(host)
	if host == "" {
		ip = net.IPv4zero
	}
	if ip == nil || ip.IsLoopback() {
		return nil, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []net.Interface
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip.IsUnspecified() {
			out = append(out, ifi)
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				out = append(out, ifi)
			}
		}
	}
	return out, nil
}

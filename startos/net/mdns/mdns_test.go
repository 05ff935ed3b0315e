package mdns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func TestAnswer(t *testing.T) {
	r := &Responder{}
	r.SetNames([]string{"box.local", "Main-App-Box.local"})
	ip := net.IPv4(10, 1, 2, 3)
	for _, tc := range []struct {
		name   string
		qtype  uint16
		legacy bool
		want   bool
	}{
		{"box.local.", dns.TypeA, false, true},
		{"MAIN-app-box.local.", dns.TypeA, true, true},
		{"box.local.", dns.TypeANY, false, true},
		{"box.local.", dns.TypeAAAA, false, false},
		{"other.local.", dns.TypeA, false, false},
	} {
		q := new(dns.Msg)
		q.SetQuestion(tc.name, tc.qtype)
		resp := r.answer(q, ip, tc.legacy)
		if (resp != nil) != tc.want {
			t.Fatalf("%+v: answer %v", tc, resp)
		}
		if resp == nil {
			continue
		}
		a := resp.Answer[0].(*dns.A)
		if !a.A.Equal(ip) || !resp.Response || !resp.Authoritative {
			t.Errorf("%+v: %v", tc, resp)
		}
		if tc.legacy != (resp.Id == q.Id && len(resp.Question) == 1) {
			t.Errorf("%+v: legacy reply must echo id and question: %v", tc, resp)
		}
		if flush := a.Hdr.Class&(1<<15) != 0; flush == tc.legacy {
			t.Errorf("%+v: cache-flush bit %v", tc, flush)
		}
	}
	r.SetNames(nil)
	q := new(dns.Msg)
	q.SetQuestion("box.local.", dns.TypeA)
	if r.answer(q, ip, false) != nil {
		t.Error("answered for a withdrawn name")
	}
}

func TestInterfacesForLoopbackIsNone(t *testing.T) {
	for _, h := range []string{"127.0.0.1", "::1", "not-an-ip"} {
		if ifs, err := InterfacesFor(h); err != nil || len(ifs) != 0 {
			t.Errorf("%s: %v %v", h, ifs, err)
		}
	}
}

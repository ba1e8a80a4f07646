package test

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/srvhealth/srvhealth/internal/kubeapi"
	"github.com/srvhealth/srvhealth/internal/testpeer"
)

// TestKubernetes is cluster DNS end to end: the stock kubernetes plugin after srvhealth, fed by an API
// server the test runs (internal/kubeapi), with a headless Service "kamailio" in namespace "voip" whose
// EndpointSlice lists three Ready pods. Each pod is a real Kamailio on its own loopback address and the
// service's port; the third is frozen (it takes the datagrams and never answers), as a pod on a node that
// just died stays Ready until the node controller's grace period runs out. srvhealth drops that pod and
// keeps the others; a pod its EndpointSlice marks not Ready leaves through the kubernetes plugin and its
// watch alone; the frozen pod returns once it answers again.
func TestKubernetes(t *testing.T) {
	const (
		interval = 200 * time.Millisecond
		timeout  = 100 * time.Millisecond
		fails    = 2
		rises    = 1
		// slack covers what the bounds do not: the 20 ms query poll, the watch delivering a change, and
		// the probe goroutines' latency under the race detector on two loaded cores.
		slack = 2 * time.Second
		// ttl is the kubernetes plugin's default TTL, which srvhealth must not raise.
		ttl = 5
	)
	pods := []string{"127.0.50.1", "127.0.50.2", "127.0.50.3"}
	port := sharedPort(t, pods)
	var peers []*testpeer.KamailioPeer
	for _, ip := range pods {
		peers = append(peers, testpeer.Kamailio(t, testpeer.KamailioConfig{Addr: ip, UDPTCPPort: port}))
	}
	hung := peers[2]
	hung.Freeze()

	api := kubeapi.Start(t)
	api.Set(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voip"}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: "kamailio"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Selector: map[string]string{"app": "kamailio"},
				Ports: []corev1.ServicePort{{Name: "sip", Protocol: corev1.ProtocolUDP, Port: int32(port),
					TargetPort: intstr.FromString("sip")}},
			},
		},
		endpointSlice(port, pods),
	)

	s := CoreDNS(t, `cluster.local:0 {
		srvhealth {
			services _sip._udp
			interval `+interval.String()+`
			timeout `+timeout.String()+`
			fails `+strconv.Itoa(fails)+`
			rises `+strconv.Itoa(rises)+`
			scope 127.0.0.0/8
		}
		kubernetes cluster.local {
			endpoint `+api.URL+`
		}
	}`)

	const qname = "_sip._udp.kamailio.voip.svc.cluster.local."
	// The kubernetes plugin names each endpoint of a headless service after its address (pods of a
	// Deployment have no hostname).
	target := func(ip string) string {
		return strings.ReplaceAll(ip, ".", "-") + ".kamailio.voip.svc.cluster.local."
	}
	targets := func(ips ...string) []string {
		var out []string
		for _, ip := range ips {
			out = append(out, target(ip))
		}
		slices.Sort(out)
		return out
	}
	// check fails the test unless m serves exactly the pods ips: their SRV records on the service's
	// port, their addresses and no others in the additional section, no TTL above the plugin's.
	check := func(what string, m *dns.Msg, ips ...string) {
		t.Helper()
		if m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: rcode %s", what, dns.RcodeToString[m.Rcode])
		}
		if got, want := SRVTargets(m), targets(ips...); !slices.Equal(got, want) {
			t.Fatalf("%s: targets %v, want %v", what, got, want)
		}
		var glue []string
		for _, rr := range m.Answer {
			if srv, ok := rr.(*dns.SRV); ok && int(srv.Port) != port {
				t.Errorf("%s: %s, want port %d", what, srv, port)
			}
		}
		for _, rr := range m.Extra {
			if a, ok := rr.(*dns.A); ok {
				glue = append(glue, a.Hdr.Name+" "+a.A.String())
			}
		}
		var want []string
		for _, ip := range ips {
			want = append(want, target(ip)+" "+ip)
		}
		slices.Sort(glue)
		slices.Sort(want)
		if !slices.Equal(glue, want) {
			t.Errorf("%s: additional section %v, want %v", what, glue, want)
		}
		for _, rr := range append(slices.Clone(m.Answer), m.Extra...) {
			if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl > ttl {
				t.Errorf("%s: %s has a TTL above the kubernetes plugin's %d", what, rr, ttl)
			}
		}
	}
	query := func() *dns.Msg { return Exchange(t, "udp", s.UDP, qname, dns.TypeSRV) }
	waitFor := func(what string, within time.Duration, ips ...string) time.Duration {
		t.Helper()
		m, took := WaitTargets(t, what, s.UDP, qname, targets(ips...), within)
		check(what, m, ips...)
		return took
	}

	// Until their first probe every target counts as up: this is the kubernetes plugin's own answer.
	check("first answer", query(), pods...)
	for _, ip := range pods {
		m := Exchange(t, "udp", s.UDP, target(ip), dns.TypeA)
		if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != ip {
			t.Errorf("%s A: %v, want %s", target(ip), m.Answer, ip)
		}
	}

	took := waitFor("frozen pod", interval*(fails+1)+timeout+slack, pods[0], pods[1])
	t.Logf("the frozen pod left the answers %v after the first query (bound %v + slack)", took, interval*(fails+1)+timeout)

	api.Set(endpointSlice(port, pods, pods[1]))
	took = waitFor("pod 2 not Ready", slack, pods[0])
	t.Logf("the pod marked not Ready left the answers after %v", took)

	hung.Thaw()
	took = waitFor("frozen pod thawed", interval*rises+interval+slack, pods[0], pods[2])
	t.Logf("the thawed pod came back after %v (bound %v + slack)", took, interval*rises+interval)

	api.Set(endpointSlice(port, pods))
	waitFor("pod 2 Ready again", slack, pods...)
}

// endpointSlice is the EndpointSlice the endpoint slice controller writes for the service "kamailio":
// one endpoint per pod address, Ready unless listed in notReady.
func endpointSlice(port int, ips []string, notReady ...string) *discoveryv1.EndpointSlice {
	return serviceSlice("kamailio", "sip", corev1.ProtocolUDP, port, ips, notReady...)
}

// serviceSlice is the EndpointSlice of a service of namespace voip with one named port.
func serviceSlice(service, portName string, proto corev1.Protocol, port int, ips []string, notReady ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: service + "-7x2kq", Labels: map[string]string{
			discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Protocol: ptr.To(proto), Port: ptr.To(int32(port))}},
	}
	for i, ip := range ips {
		ready := !slices.Contains(notReady, ip)
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "voip", Name: service + "-6d9f-" + strconv.Itoa(i)},
			NodeName:   ptr.To("node-" + strconv.Itoa(i)),
		})
	}
	return es
}

// shippedClusterBlock returns the srvhealth block of the cluster Corefile shipped in deploy/ (the
// Kubernetes manifests' ConfigMap; deploy_test.go holds the Helm values' blocks to the same lines), with
// its timings replaced by the test's.
func shippedClusterBlock(t *testing.T, timings string) string {
	t.Helper()
	data, err := os.ReadFile("../deploy/kubernetes/coredns-srvhealth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	in := false
	for l := range strings.SplitSeq(string(data), "\n") {
		l, _, _ = strings.Cut(l, "#")
		l = strings.TrimSpace(l)
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "srvhealth "):
			in = true
			b.WriteString(l + "\n" + timings + "\n")
		case !in || len(f) == 0:
		case l == "}":
			b.WriteString("}\n")
			return b.String()
		case slices.Contains([]string{"interval", "timeout", "fails", "rises", "max_ttl", "min_ttl"}, f[0]):
		default:
			b.WriteString(l + "\n")
		}
	}
	t.Fatal("no srvhealth block in deploy/kubernetes/coredns-srvhealth.yaml")
	return ""
}

// TestKubernetesXMPPPod is an XMPP service under cluster DNS with the srvhealth block deploy/ ships (issue
// 24 item 2): a headless Service "prosody" whose EndpointSlice lists two Ready pods, a real Prosody
// hosting example.com and a pod that refuses connections. The service domain of
// _xmpp-client._tcp.prosody.voip.svc.cluster.local is prosody.voip.svc.cluster.local, which Prosody does
// not host: a stream opened to it gets host-unknown. The shipped block must keep the live pod and drop the
// dead one; with the xmpp probe both would be down, and all_down serve_all would serve both.
func TestKubernetesXMPPPod(t *testing.T) {
	const (
		interval = 300 * time.Millisecond
		timeout  = 200 * time.Millisecond
		slack    = 3 * time.Second
	)
	pods := []string{"127.0.51.1", "127.0.51.2"}
	port := sharedPort(t, pods)
	testpeer.Prosody(t, testpeer.ProsodyConfig{Addr: pods[0], Domain: "example.com", C2SPort: port})

	api := kubeapi.Start(t)
	api.Set(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voip"}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: "prosody"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Selector: map[string]string{"app": "prosody"},
				Ports: []corev1.ServicePort{{Name: "xmpp-client", Protocol: corev1.ProtocolTCP, Port: int32(port),
					TargetPort: intstr.FromString("xmpp-client")}},
			},
		},
		serviceSlice("prosody", "xmpp-client", corev1.ProtocolTCP, port, pods),
	)
	block := shippedClusterBlock(t, "interval "+interval.String()+"\ntimeout "+timeout.String()+"\nfails 2\nrises 1")
	s := CoreDNS(t, "cluster.local:0 {\n"+block+"kubernetes cluster.local {\nendpoint "+api.URL+"\n}\n}")

	const qname = "_xmpp-client._tcp.prosody.voip.svc.cluster.local."
	live := strings.ReplaceAll(pods[0], ".", "-") + ".prosody.voip.svc.cluster.local."
	// The stream the xmpp probe would open: Prosody answers it with host-unknown, so the pod is healthy
	// and the name is what a probe must not send.
	m := Exchange(t, "udp", s.UDP, qname, dns.TypeSRV)
	if got := SRVTargets(m); len(got) != 2 {
		t.Fatalf("first answer: targets %v, want both pods", got)
	}
	WaitTargets(t, "dead XMPP pod", s.UDP, qname, []string{live}, interval*3+timeout+slack)
	// The live pod stays: several rounds later it is still served, alone.
	time.Sleep(interval * 5)
	if got := SRVTargets(Exchange(t, "udp", s.UDP, qname, dns.TypeSRV)); !slices.Equal(got, []string{live}) {
		t.Errorf("after 5 more rounds: targets %v, want %s", got, live)
	}
}

// sharedPort returns a port free for UDP and TCP on every one of addrs: the pods behind a service listen
// on the same port, each on its own address.
func sharedPort(t *testing.T, addrs []string) int {
	t.Helper()
	free := func(ip string, port int) bool {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		defer l.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
		return true
	}
	for range 50 {
		port := testpeer.FreePort(t, addrs[0], true)
		if !slices.ContainsFunc(addrs[1:], func(ip string) bool { return !free(ip, port) }) {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", addrs)
	return 0
}

// TestKubernetesBeside starts CoreDNS from the server block of deploy/helm/beside.yaml, as the chart
// writes it, against the test's API server: a CoreDNS serving voip.svc.cluster.local only, with the
// kubernetes plugin's zone cluster.local, answers the namespace's SRV names (the cluster's DNS forwards that
// zone to it) and nothing else. The health, ready and prometheus plugins are left out (fixed ports).
func TestKubernetesBeside(t *testing.T) {
	data, err := os.ReadFile("../deploy/helm/beside.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Servers []struct {
			Zones []struct {
				Zone string `json:"zone"`
			} `json:"zones"`
			Plugins []struct {
				Name        string `json:"name"`
				Parameters  string `json:"parameters"`
				ConfigBlock string `json:"configBlock"`
			} `json:"plugins"`
		} `json:"servers"`
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Servers) != 1 || len(v.Servers[0].Zones) != 1 {
		t.Fatalf("servers %+v, want one block with one zone", v.Servers)
	}
	api := kubeapi.Start(t)
	port := 5060
	api.Set(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voip"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: "kamailio"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Ports: []corev1.ServicePort{{Name: "sip", Protocol: corev1.ProtocolUDP, Port: int32(port)}},
			},
		},
		endpointSlice(port, []string{"127.0.52.1"}),
	)
	var b strings.Builder
	b.WriteString(v.Servers[0].Zones[0].Zone + ":0 {\n")
	for _, p := range v.Servers[0].Plugins {
		if p.Name == "health" || p.Name == "ready" || p.Name == "prometheus" {
			continue
		}
		b.WriteString(p.Name + " " + p.Parameters + " {\n" + p.ConfigBlock + "\n")
		if p.Name == "kubernetes" {
			b.WriteString("endpoint " + api.URL + "\n")
		}
		b.WriteString("}\n")
	}
	b.WriteString("}\n")
	s := CoreDNS(t, b.String())

	m := Exchange(t, "udp", s.UDP, "_sip._udp.kamailio.voip.svc.cluster.local.", dns.TypeSRV)
	if got := SRVTargets(m); !slices.Equal(got, []string{"127-0-52-1.kamailio.voip.svc.cluster.local."}) {
		t.Errorf("SRV of the voip namespace: %v (rcode %s), want the pod\n%s", got, dns.RcodeToString[m.Rcode], b.String())
	}
	if m := Exchange(t, "udp", s.UDP, "kubernetes.default.svc.cluster.local.", dns.TypeA); m.Rcode != dns.RcodeRefused {
		t.Errorf("a name outside the zone: rcode %s, want REFUSED (the cluster's DNS answers it)", dns.RcodeToString[m.Rcode])
	}
}

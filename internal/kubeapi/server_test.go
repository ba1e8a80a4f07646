package kubeapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/srvhealth/srvhealth/internal/kubeapi"
)

// slice is the EndpointSlice of the headless service "kamailio" with one endpoint per address, of which
// the ones in notReady are not Ready.
func slice(port int32, addrs []string, notReady ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: "kamailio-x1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kamailio"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("sip"), Port: ptr.To(port)}},
	}
	for _, a := range addrs {
		ready := true
		for _, n := range notReady {
			if n == a {
				ready = false
			}
		}
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}})
	}
	return es
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInformer follows the EndpointSlices of a service with client-go's shared informer, as CoreDNS's
// kubernetes plugin does, through a change, a watch the server ends (the informer resumes from its
// resourceVersion), a compaction (it lists again) and a deletion.
func TestInformer(t *testing.T) {
	s := kubeapi.Start(t)
	addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	s.Set(namespace("voip"), slice(5060, addrs))

	f := informers.NewSharedInformerFactory(client(t, s, "application/vnd.kubernetes.protobuf"), 0)
	lister := f.Discovery().V1().EndpointSlices().Lister()
	stop := make(chan struct{})
	f.Start(stop)
	t.Cleanup(func() { close(stop); f.Shutdown() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}

	// state returns the cached slice as "port ready-flags", or "gone".
	state := func() string {
		es, err := lister.EndpointSlices("voip").Get("kamailio-x1")
		if err != nil {
			return "gone"
		}
		out := fmt.Sprint(*es.Ports[0].Port)
		for _, e := range es.Endpoints {
			out += fmt.Sprintf(" %t", *e.Conditions.Ready)
		}
		return out
	}
	expect := func(what, want string) {
		t.Helper()
		eventually(t, what, func() bool { return state() == want })
	}
	expect("synced", "5060 true true true")

	s.Set(slice(5060, addrs, "10.0.0.2"))
	expect("pod 2 not ready", "5060 true false true")

	s.CloseWatches()
	s.Set(slice(5060, addrs))
	expect("after the watch was closed", "5060 true true true")

	// A change to another resource moves the resourceVersion past the last one the informer saw, so
	// after the compaction its watch cannot resume: it gets 410 Gone and lists again.
	s.Set(namespace("other"))
	s.Compact()
	s.CloseWatches()
	s.Set(slice(5061, addrs, "10.0.0.3"))
	expect("after compaction", "5061 true true false")

	s.Delete(slice(0, nil))
	expect("deleted", "gone")
}

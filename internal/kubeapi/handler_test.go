package kubeapi_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/srvhealth/srvhealth/internal/kubeapi"
)

// contentTypes are the encodings a client may ask for: CoreDNS's kubernetes plugin asks for protobuf.
var contentTypes = map[string]string{"json": "application/json", "protobuf": "application/vnd.kubernetes.protobuf"}

func client(t *testing.T, s *kubeapi.Server, contentType string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL, ContentConfig: rest.ContentConfig{ContentType: contentType}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func service(ns, name, app string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "sip", Protocol: corev1.ProtocolUDP, Port: port}}},
	}
}

// next returns the next event of w, failing the test if none comes within 5 s.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func name(obj runtime.Object) string {
	switch o := obj.(type) {
	case *corev1.Service:
		return o.Namespace + "/" + o.Name
	case *discoveryv1.EndpointSlice:
		return o.Namespace + "/" + o.Name
	case *corev1.Pod:
		return o.Namespace + "/" + o.Name
	}
	return "?"
}

func TestListGetWatch(t *testing.T) {
	for enc, contentType := range contentTypes {
		t.Run(enc, func(t *testing.T) {
			s := kubeapi.Start(t)
			c := client(t, s, contentType).CoreV1()
			ctx := t.Context()
			s.Set(namespace("voip"), namespace("other"),
				service("voip", "a", "sip", 5060), service("voip", "b", "xmpp", 5222), service("other", "c", "sip", 5060))

			all, err := c.Services("").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, svc := range all.Items {
				names = append(names, svc.Namespace+"/"+svc.Name)
			}
			if want := []string{"other/c", "voip/a", "voip/b"}; !slices.Equal(names, want) {
				t.Errorf("list: %v, want %v", names, want)
			}
			if all.ResourceVersion != s.ResourceVersion() {
				t.Errorf("list resourceVersion %q, want the server's %q", all.ResourceVersion, s.ResourceVersion())
			}
			sip, err := c.Services("voip").List(ctx, metav1.ListOptions{LabelSelector: "app=sip"})
			if err != nil {
				t.Fatal(err)
			}
			if len(sip.Items) != 1 || sip.Items[0].Name != "a" {
				t.Errorf("list voip app=sip: %v, want only a", sip.Items)
			}

			a, err := c.Services("voip").Get(ctx, "a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if a.UID == "" || a.ResourceVersion == "" || a.Spec.Ports[0].Port != 5060 {
				t.Errorf("get: uid %q resourceVersion %q ports %v", a.UID, a.ResourceVersion, a.Spec.Ports)
			}
			if _, err := c.Services("voip").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("get of a missing service: %v, want NotFound", err)
			}
			if _, err := c.Namespaces().Get(ctx, "voip", metav1.GetOptions{}); err != nil {
				t.Errorf("get namespace: %v", err)
			}

			w, err := c.Services("voip").Watch(ctx, metav1.ListOptions{LabelSelector: "app=sip", ResourceVersion: all.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			s.Set(service("voip", "a", "sip", 5080))  // modified, stays selected
			s.Set(service("other", "c", "sip", 5080)) // another namespace
			s.Set(service("voip", "b", "sip", 5222))  // enters the selection
			s.Set(service("voip", "a", "none", 5080)) // leaves it
			s.Delete(service("voip", "b", "", 0))
			type seen struct {
				typ  watch.EventType
				name string
			}
			want := []seen{{watch.Modified, "voip/a"}, {watch.Added, "voip/b"}, {watch.Deleted, "voip/a"}, {watch.Deleted, "voip/b"}}
			for i, wv := range want {
				ev := next(t, w)
				if got := (seen{ev.Type, name(ev.Object)}); got != wv {
					t.Fatalf("event %d: %v, want %v", i, got, wv)
				}
				if i == 0 && ev.Object.(*corev1.Service).Spec.Ports[0].Port != 5080 {
					t.Errorf("modified event carries port %d, want 5080", ev.Object.(*corev1.Service).Spec.Ports[0].Port)
				}
			}

			rv := s.ResourceVersion()
			s.Set(service("voip", "a", "none", 5080))
			if got := s.ResourceVersion(); got != rv {
				t.Errorf("setting an unchanged object moved the resourceVersion from %s to %s", rv, got)
			}
		})
	}
}

// TestStreamedList checks the watch client-go's informers open first (sendInitialEvents): every object,
// then the bookmark that ends the initial list, then changes.
func TestStreamedList(t *testing.T) {
	for enc, contentType := range contentTypes {
		t.Run(enc, func(t *testing.T) {
			s := kubeapi.Start(t)
			c := client(t, s, contentType).CoreV1()
			s.Set(namespace("voip"), service("voip", "a", "sip", 5060), service("voip", "b", "sip", 5060))
			rv := s.ResourceVersion()
			w, err := c.Services("").Watch(t.Context(), metav1.ListOptions{
				SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			for _, n := range []string{"voip/a", "voip/b"} {
				if ev := next(t, w); ev.Type != watch.Added || name(ev.Object) != n {
					t.Fatalf("initial event %s %s, want ADDED %s", ev.Type, name(ev.Object), n)
				}
			}
			ev := next(t, w)
			bm, _ := ev.Object.(*corev1.Service)
			if ev.Type != watch.Bookmark || bm == nil || bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" || bm.ResourceVersion != rv {
				t.Fatalf("after the initial events: %s %+v, want the initial-events-end bookmark at %s", ev.Type, ev.Object, rv)
			}
			s.Set(service("voip", "c", "sip", 5060))
			if ev := next(t, w); ev.Type != watch.Added || name(ev.Object) != "voip/c" {
				t.Fatalf("after the bookmark: %s %s, want ADDED voip/c", ev.Type, name(ev.Object))
			}

			// A streamed list needs resourceVersionMatch=NotOlderThan, as kube-apiserver insists.
			_, err = c.Services("").Watch(t.Context(), metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true})
			if !apierrors.IsInvalid(err) {
				t.Errorf("sendInitialEvents without resourceVersionMatch: %v, want Invalid", err)
			}
		})
	}
}

// TestResourceVersionLimits checks the errors that make client-go's reflector list again: a watch from a
// compacted resourceVersion ends with 410 Gone, one from a future resourceVersion is refused as too large.
func TestResourceVersionLimits(t *testing.T) {
	s := kubeapi.Start(t)
	c := client(t, s, "application/vnd.kubernetes.protobuf").CoreV1()
	s.Set(namespace("voip"))
	old := s.ResourceVersion()
	s.Set(namespace("other"))
	s.Compact()

	w, err := c.Namespaces().Watch(t.Context(), metav1.ListOptions{ResourceVersion: old})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := next(t, w)
	if err := apierrors.FromObject(ev.Object); ev.Type != watch.Error || !apierrors.IsResourceExpired(err) {
		t.Errorf("watch from a compacted resourceVersion: %s %v, want ERROR Expired", ev.Type, err)
	}

	w2, err := c.Namespaces().Watch(t.Context(), metav1.ListOptions{ResourceVersion: s.ResourceVersion()})
	if err != nil {
		t.Fatalf("watch from the latest resourceVersion after compaction: %v", err)
	}
	w2.Stop()

	_, err = c.Namespaces().Watch(t.Context(), metav1.ListOptions{ResourceVersion: "1000000"})
	if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("watch from a future resourceVersion: %v, want ResourceVersionTooLarge", err)
	}
	_, err = c.Namespaces().List(t.Context(), metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) {
		t.Errorf("list at a past exact resourceVersion: %v, want Expired", err)
	}
}

// TestFieldSelector checks the pod field CoreDNS selects on, and that an unknown field is refused.
func TestFieldSelector(t *testing.T) {
	s := kubeapi.Start(t)
	c := client(t, s, "application/json").CoreV1()
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "voip", Name: name}, Status: corev1.PodStatus{Phase: phase}}
	}
	s.Set(namespace("voip"), pod("running", corev1.PodRunning), pod("done", corev1.PodSucceeded), pod("failed", corev1.PodFailed))
	l, err := c.Pods("").List(t.Context(), metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "running" {
		t.Errorf("pods not succeeded or failed: %v, want only running", l.Items)
	}
	if _, err := c.Pods("").List(t.Context(), metav1.ListOptions{FieldSelector: "spec.nope=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field: %v, want BadRequest", err)
	}
}

func TestDiscovery(t *testing.T) {
	s := kubeapi.Start(t)
	d := client(t, s, "application/json").Discovery()
	v, err := d.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major != "1" || v.GitVersion == "" {
		t.Errorf("version %+v", v)
	}
	rl, err := d.ServerResourcesForGroupVersion("discovery.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rl.APIResources) != 1 || rl.APIResources[0].Name != "endpointslices" || !rl.APIResources[0].Namespaced {
		t.Errorf("discovery.k8s.io/v1 resources: %+v", rl.APIResources)
	}
	groups, err := d.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	if !slices.Contains(names, "") || !slices.Contains(names, "discovery.k8s.io") {
		t.Errorf("groups %v, want the core group and discovery.k8s.io", names)
	}
}

// TestMediaTypes checks the encoding on the wire: CoreDNS's Accept header gets protobuf (with its "k8s\0"
// envelope), a watch says it is a stream, and a media type neither JSON nor protobuf is refused.
func TestMediaTypes(t *testing.T) {
	s := kubeapi.Start(t)
	s.Set(namespace("voip"))
	get := func(path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", s.URL+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4)) // a watch never ends; its first bytes are enough
		return resp, body
	}
	resp, body := get("/api/v1/namespaces", "application/vnd.kubernetes.protobuf, */*")
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.kubernetes.protobuf" || !bytes.Equal(body, []byte("k8s\x00")) {
		t.Errorf("list with CoreDNS's Accept: %s %q", ct, body)
	}
	resp, _ = get("/api/v1/namespaces?watch=true", "application/vnd.kubernetes.protobuf, */*")
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.kubernetes.protobuf;stream=watch" {
		t.Errorf("watch content type %q", ct)
	}
	resp, _ = get("/api/v1/namespaces", "*/*")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("list with Accept */*: %q, want application/json", ct)
	}
	if resp, _ = get("/api/v1/namespaces", "application/yaml"); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept application/yaml: %s, want 406", resp.Status)
	}
	if resp, _ = get("/api/v1/widgets", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown resource: %s, want 404", resp.Status)
	}
}

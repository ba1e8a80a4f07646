// Package kubeapi is a Kubernetes API server for tests. It keeps Namespaces, Services, Pods and
// EndpointSlices in memory and serves them the way kube-apiserver does to client-go and to CoreDNS's
// kubernetes plugin: list, get and watch, in JSON or protobuf, with resourceVersions, label and field
// selectors, watches resumed from a resourceVersion (410 Gone once it is compacted away) and streamed
// lists (sendInitialEvents, ended by the k8s.io/initial-events-end bookmark that client-go's informers
// wait for); plus /version and discovery. Tests change the objects with Set and Delete, and every open
// watch sees the change.
//
// It has no authentication, no write verbs, no admission and no persistence: no kube-apiserver can be
// installed here, and the part of the protocol a DNS server reads is small.
package kubeapi

import (
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
)

var (
	scheme     = runtime.NewScheme()
	codecs     = serializer.NewCodecFactory(scheme)
	parameters = runtime.NewParameterCodec(scheme)
)

func init() {
	// core/v1 also registers the meta types (Status, WatchEvent, the discovery documents).
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, discoveryv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

// resource is one kind of object the server serves.
type resource struct {
	gvk        schema.GroupVersionKind
	name       string // plural, as in the URL
	namespaced bool
	fields     func(runtime.Object) fields.Set // what a fieldSelector may ask about
}

var resources = []*resource{
	{gvk: corev1.SchemeGroupVersion.WithKind("Namespace"), name: "namespaces", fields: objectMetaFields},
	{gvk: corev1.SchemeGroupVersion.WithKind("Service"), name: "services", namespaced: true, fields: objectMetaFields},
	{gvk: corev1.SchemeGroupVersion.WithKind("Pod"), name: "pods", namespaced: true, fields: podFields},
	{gvk: discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), name: "endpointslices", namespaced: true, fields: objectMetaFields},
}

func objectMetaFields(obj runtime.Object) fields.Set {
	m, _ := meta.Accessor(obj)
	return fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
}

// podFields are the pod fields kube-apiserver selects on that its clients use: CoreDNS lists pods with
// status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown.
func podFields(obj runtime.Object) fields.Set {
	p := obj.(*corev1.Pod)
	f := objectMetaFields(obj)
	f["spec.nodeName"] = p.Spec.NodeName
	f["status.phase"] = string(p.Status.Phase)
	f["status.podIP"] = p.Status.PodIP
	return f
}

func (r *resource) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.gvk.Group, Resource: r.name}
}

// maxHistory bounds the events kept for watches that resume from a resourceVersion; older ones are
// compacted away as etcd does, and a watch from before them gets 410 Gone.
const maxHistory = 10000

// Server is a running API server. Its methods may be called from any goroutine, except that Set and
// Delete fail the test on a bad object, so they belong on the test's goroutine.
type Server struct {
	URL string // http://127.0.0.1:PORT, the kubernetes plugin's `endpoint`

	t    testing.TB
	http *httptest.Server

	mu      sync.Mutex
	rv      uint64                                  // the resourceVersion of the latest change
	objects map[*resource]map[string]runtime.Object // by "namespace/name"
	// history holds the changes after resourceVersion compacted, one per resourceVersion:
	// history[i].rv == compacted+1+i.
	history   []event
	compacted uint64
	changed   chan struct{} // closed and replaced on every change, to wake the watches
	closing   chan struct{} // closed by CloseWatches and Close, to end the watches
	closed    bool
}

// event is one change, as the watches replay it.
type event struct {
	rv  uint64
	res *resource
	typ watch.EventType
	obj runtime.Object // the object after the change; for a deletion, its last state
	old runtime.Object // the object before a modification, to turn it into ADDED or DELETED for a watch whose selector it enters or leaves
}

// Start starts an API server on a free port of 127.0.0.1 and closes it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:       t,
		objects: map[*resource]map[string]runtime.Object{},
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
	for _, r := range resources {
		s.objects[r] = map[string]runtime.Object{}
	}
	s.http = httptest.NewServer(s)
	s.URL = s.http.URL
	t.Cleanup(s.Close)
	return s
}

// Close ends every watch and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.http.Close()
}

// Set creates or replaces objects (Namespaces, Services, Pods, EndpointSlices), each as one change
// with its own resourceVersion, as separate writes to kube-apiserver would be. An object equal to the
// stored one is not a change, as in kube-apiserver. It fails the test for a kind it does not serve or a
// namespaced object without a namespace.
func (s *Server) Set(objs ...runtime.Object) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, obj := range objs {
		res, key, obj := s.prepare(obj)
		m, _ := meta.Accessor(obj)
		old := s.objects[res][key]
		typ := watch.Added
		if old != nil {
			om, _ := meta.Accessor(old)
			m.SetUID(om.GetUID())
			m.SetCreationTimestamp(om.GetCreationTimestamp())
			m.SetResourceVersion(om.GetResourceVersion())
			if equality.Semantic.DeepEqual(old, obj) {
				continue
			}
			typ = watch.Modified
		} else {
			m.SetUID(uuid.NewUUID())
			m.SetCreationTimestamp(metav1.Now())
		}
		s.record(res, typ, obj, old)
		s.objects[res][key] = obj
	}
}

// Delete deletes objects, found by kind, namespace and name. It fails the test for one that is not there.
func (s *Server) Delete(objs ...runtime.Object) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, obj := range objs {
		res, key, _ := s.prepare(obj)
		old := s.objects[res][key]
		if old == nil {
			s.t.Fatalf("kubeapi: delete %s %s: not found", res.name, key)
		}
		delete(s.objects[res], key)
		s.record(res, watch.Deleted, old.DeepCopyObject(), old)
	}
}

// prepare returns the resource of obj, its key and a copy of it to store.
func (s *Server) prepare(obj runtime.Object) (*resource, string, runtime.Object) {
	s.t.Helper()
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil {
		s.t.Fatalf("kubeapi: %v", err)
	}
	var res *resource
	for _, r := range resources {
		if r.gvk == gvks[0] {
			res = r
		}
	}
	if res == nil {
		s.t.Fatalf("kubeapi: %s is not served", gvks[0])
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // the encoder sets it per request
	m, err := meta.Accessor(obj)
	if err != nil {
		s.t.Fatalf("kubeapi: %v", err)
	}
	switch {
	case m.GetName() == "":
		s.t.Fatalf("kubeapi: %s without a name", res.gvk.Kind)
	case res.namespaced && m.GetNamespace() == "":
		s.t.Fatalf("kubeapi: %s %s without a namespace", res.gvk.Kind, m.GetName())
	case !res.namespaced:
		m.SetNamespace("")
	}
	return res, m.GetNamespace() + "/" + m.GetName(), obj
}

// record gives obj the next resourceVersion and appends the change to the history. s.mu is held.
func (s *Server) record(res *resource, typ watch.EventType, obj, old runtime.Object) {
	s.rv++
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatUint(s.rv, 10))
	s.history = append(s.history, event{rv: s.rv, res: res, typ: typ, obj: obj, old: old})
	if len(s.history) > maxHistory {
		// A new array: watches may still be reading the old one.
		s.history = slices.Clone(s.history[len(s.history)/2:])
		s.compacted = s.history[0].rv - 1
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// ResourceVersion returns the resourceVersion of the latest change.
func (s *Server) ResourceVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatUint(s.rv, 10)
}

// Compact forgets every past change, as etcd's compaction does: a watch that resumes from an older
// resourceVersion gets 410 Gone and its client must list again. An open watch that has not yet sent the
// changes it is owed ends the same way, as kube-apiserver ends a watch that falls behind.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = nil
	s.compacted = s.rv
}

// CloseWatches ends every open watch, as kube-apiserver does when a watch's timeout runs out or the
// server restarts; clients watch again from the last resourceVersion they saw.
func (s *Server) CloseWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		close(s.closing)
		s.closing = make(chan struct{})
	}
}

// snapshot returns copies of the objects of res that sel matches, sorted by namespace and name, and the
// resourceVersion they are current at. s.mu is held.
func (s *Server) snapshot(res *resource, sel selector) ([]runtime.Object, uint64) {
	keys := make([]string, 0, len(s.objects[res]))
	for k, obj := range s.objects[res] {
		if sel.matches(res, obj) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]runtime.Object, len(keys))
	for i, k := range keys {
		out[i] = s.objects[res][k].DeepCopyObject()
	}
	return out, s.rv
}

// since returns the changes after resourceVersion rv, and false when some of them are compacted away.
// s.mu is held; the events are never modified, so the caller may read them after unlocking.
func (s *Server) since(rv uint64) ([]event, bool) {
	if rv < s.compacted {
		return nil, false
	}
	if rv >= s.rv {
		return nil, true
	}
	return s.history[rv-s.compacted:], true
}

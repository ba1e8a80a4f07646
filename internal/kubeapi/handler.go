package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"
)

// gitVersion is what /version reports: the Kubernetes release of the k8s.io/api module the objects come from.
const gitVersion = "v1.37.1"

// ServeHTTP serves the API: GET of /version, the discovery documents, and list, get and watch of the
// resources, under /api/v1 and /apis/GROUP/VERSION, cluster-wide or in /namespaces/NS.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := negotiate(r.Header.Get("Accept"))
	if !ok {
		fail(w, info, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
			Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
			Message: "only application/json and application/vnd.kubernetes.protobuf are served"}})
		return
	}
	if r.Method != http.MethodGet {
		fail(w, info, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	if served := discovery(w, r, path); served {
		return
	}
	parts := strings.Split(path, "/")
	var gv schema.GroupVersion
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		gv, parts = schema.GroupVersion{Version: parts[1]}, parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		gv, parts = schema.GroupVersion{Group: parts[1], Version: parts[2]}, parts[3:]
	default:
		fail(w, info, apierrors.NewNotFound(schema.GroupResource{}, path))
		return
	}
	ns := ""
	if len(parts) >= 3 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	var res *resource
	for _, rr := range resources {
		if rr.gvk.GroupVersion() == gv && rr.name == parts[0] {
			res = rr
		}
	}
	if res == nil || len(parts) > 2 || (ns != "" && !res.namespaced) {
		fail(w, info, apierrors.NewNotFound(schema.GroupResource{Group: gv.Group, Resource: parts[0]}, ""))
		return
	}
	if len(parts) == 2 {
		s.get(w, info, res, ns, parts[1])
		return
	}

	var opts metav1.ListOptions
	if err := parameters.DecodeParameters(r.URL.Query(), corev1.SchemeGroupVersion, &opts); err != nil {
		fail(w, info, apierrors.NewBadRequest(err.Error()))
		return
	}
	var in metainternalversion.ListOptions
	if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&opts, &in, nil); err != nil {
		fail(w, info, apierrors.NewBadRequest(err.Error()))
		return
	}
	// kube-apiserver's own checks, with the WatchList feature on as it is by default since 1.34.
	if errs := validation.ValidateListOptions(&in, true); len(errs) > 0 {
		fail(w, info, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs))
		return
	}
	sel, err := newSelector(res, ns, opts)
	if err != nil {
		fail(w, info, err)
		return
	}
	if opts.Watch {
		s.watch(w, r, info, sel, opts)
		return
	}
	s.list(w, info, sel, opts)
}

// negotiate picks the serializer for an Accept header: the first of JSON and protobuf it names (CoreDNS
// asks for protobuf), JSON for */* or no header. A media type asking for another form of the object
// ("as=Table") is skipped, so such clients get the plain object, which they accept too.
func negotiate(accept string) (runtime.SerializerInfo, bool) {
	if strings.TrimSpace(accept) == "" {
		accept = runtime.ContentTypeJSON
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil || params["as"] != "" {
			continue
		}
		if mt == "*/*" || mt == "application/*" {
			mt = runtime.ContentTypeJSON
		}
		if info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mt); ok && info.StreamSerializer != nil {
			return info, true
		}
	}
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	return info, false
}

func write(w http.ResponseWriter, info runtime.SerializerInfo, gv schema.GroupVersion, code int, obj runtime.Object) {
	data, err := runtime.Encode(codecs.EncoderForVersion(info.Serializer, gv), obj)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	w.Write(data)
}

// fail answers with the Status of err, as kube-apiserver does for every error.
func fail(w http.ResponseWriter, info runtime.SerializerInfo, err error) {
	status := apierrors.NewInternalError(err).ErrStatus
	if se, ok := err.(apierrors.APIStatus); ok {
		status = se.Status()
	}
	write(w, info, metav1.Unversioned, int(status.Code), &status)
}

// selector is what a list or watch request selects.
type selector struct {
	res       *resource
	namespace string // "" for all
	labels    labels.Selector
	fields    fields.Selector
}

func newSelector(res *resource, ns string, opts metav1.ListOptions) (selector, error) {
	ls, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(err.Error())
	}
	fs, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(err.Error())
	}
	empty, _ := scheme.New(res.gvk)
	known := res.fields(empty)
	for _, req := range fs.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return selector{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return selector{res: res, namespace: ns, labels: ls, fields: fs}, nil
}

func (sel selector) matches(res *resource, obj runtime.Object) bool {
	if res != sel.res {
		return false
	}
	m, _ := meta.Accessor(obj)
	return (sel.namespace == "" || m.GetNamespace() == sel.namespace) &&
		sel.labels.Matches(labels.Set(m.GetLabels())) && sel.fields.Matches(res.fields(obj))
}

func (s *Server) get(w http.ResponseWriter, info runtime.SerializerInfo, res *resource, ns, name string) {
	if res.namespaced && ns == "" {
		fail(w, info, apierrors.NewNotFound(res.groupResource(), name))
		return
	}
	s.mu.Lock()
	obj := s.objects[res][ns+"/"+name]
	if obj != nil {
		obj = obj.DeepCopyObject()
	}
	s.mu.Unlock()
	if obj == nil {
		fail(w, info, apierrors.NewNotFound(res.groupResource(), name))
		return
	}
	write(w, info, res.gvk.GroupVersion(), http.StatusOK, obj)
}

// list serves the whole list at once, whatever the limit, as kube-apiserver's watch cache does for
// resourceVersion 0; continuing a list is not served. A list at an exact resourceVersion other than the
// latest gets 410 Gone: past states are not kept.
func (s *Server) list(w http.ResponseWriter, info runtime.SerializerInfo, sel selector, opts metav1.ListOptions) {
	s.mu.Lock()
	cur := s.rv
	items, _ := s.snapshot(sel.res, sel)
	s.mu.Unlock()
	if opts.ResourceVersion != "" {
		n, err := strconv.ParseUint(opts.ResourceVersion, 10, 64)
		switch {
		case err != nil:
			fail(w, info, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", opts.ResourceVersion)))
			return
		case n > cur:
			fail(w, info, tooLarge(n, cur))
			return
		case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && n != cur:
			fail(w, info, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", n, cur)))
			return
		}
	}
	list, err := scheme.New(sel.res.gvk.GroupVersion().WithKind(sel.res.gvk.Kind + "List"))
	if err == nil {
		err = meta.SetList(list, items)
	}
	if err != nil {
		fail(w, info, err)
		return
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(strconv.FormatUint(cur, 10))
	write(w, info, sel.res.gvk.GroupVersion(), http.StatusOK, list)
}

// tooLarge is kube-apiserver's answer to a resourceVersion it has not reached, which client-go's
// reflector recognises by its cause.
func tooLarge(n, cur uint64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", n, cur), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// watch streams the changes of the selected objects as watch events, framed as kube-apiserver frames
// them (newline-separated JSON, or length-prefixed protobuf), until the client goes away, the request's
// timeoutSeconds run out, or CloseWatches. Where it starts:
//   - sendInitialEvents=true (a streamed list, what client-go's informers ask for): an ADDED event for
//     every object, a bookmark annotated k8s.io/initial-events-end at the current resourceVersion, then
//     the changes after it;
//   - resourceVersion "" or "0": an ADDED event for every object (none with sendInitialEvents=false),
//     then the changes;
//   - resourceVersion N: the changes after N, or an ERROR event with 410 Gone if they are compacted away.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, info runtime.SerializerInfo, sel selector, opts metav1.ListOptions) {
	ctx := r.Context()
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*opts.TimeoutSeconds)*time.Second)
		defer cancel()
	}
	streamed := opts.SendInitialEvents != nil && *opts.SendInitialEvents

	s.mu.Lock()
	closing, from := s.closing, s.rv
	var initial []runtime.Object
	var startErr error
	n, err := strconv.ParseUint(opts.ResourceVersion, 10, 64)
	switch {
	case opts.ResourceVersion != "" && err != nil:
		startErr = apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", opts.ResourceVersion))
	case n > s.rv:
		startErr = tooLarge(n, s.rv)
	case streamed || ((opts.ResourceVersion == "" || n == 0) && opts.SendInitialEvents == nil):
		initial, _ = s.snapshot(sel.res, sel)
	case opts.ResourceVersion != "" && n != 0:
		from = n
	}
	closed := s.closed
	s.mu.Unlock()
	if startErr != nil {
		fail(w, info, startErr)
		return
	}
	if closed {
		fail(w, info, apierrors.NewServiceUnavailable("shutting down"))
		return
	}

	flusher, _ := w.(http.Flusher)
	mediaType := info.MediaType
	if mediaType != runtime.ContentTypeJSON {
		mediaType += ";stream=watch"
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // the client's Watch returns once it has the headers

	events := streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(w), info.StreamSerializer.Serializer)
	objects := codecs.EncoderForVersion(info.Serializer, sel.res.gvk.GroupVersion())
	metaObjects := codecs.EncoderForVersion(info.Serializer, metav1.Unversioned)
	send := func(typ watch.EventType, obj runtime.Object) bool {
		enc := objects
		if _, ok := obj.(*metav1.Status); ok {
			enc = metaObjects
		}
		data, err := runtime.Encode(enc, obj.DeepCopyObject()) // encoding sets the copy's kind
		if err != nil {
			return false
		}
		return events.Encode(&metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: data}}) == nil
	}

	for _, obj := range initial {
		if !send(watch.Added, obj) {
			return
		}
	}
	if streamed && opts.AllowWatchBookmarks {
		bm, _ := scheme.New(sel.res.gvk)
		m, _ := meta.Accessor(bm)
		m.SetResourceVersion(strconv.FormatUint(from, 10))
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		if !send(watch.Bookmark, bm) {
			return
		}
	}
	flusher.Flush()

	for {
		s.mu.Lock()
		evs, ok := s.since(from)
		changed := s.changed
		s.mu.Unlock()
		if !ok {
			// kube-apiserver's watch cache, too, reports this in the stream rather than as the response.
			st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, s.compactedAt()))
			send(watch.Error, &st.ErrStatus)
			flusher.Flush()
			return
		}
		for _, e := range evs {
			if typ, obj, ok := e.forWatch(sel); ok && !send(typ, obj) {
				return
			}
			from = e.rv
		}
		flusher.Flush()
		select {
		case <-changed:
		case <-closing:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) compactedAt() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compacted
}

// forWatch returns the event a watch with sel sees for e, if any. As in kube-apiserver, a modification
// that moves an object into the selection is ADDED, and one that moves it out is DELETED (the object as
// it was, at the new resourceVersion).
func (e event) forWatch(sel selector) (watch.EventType, runtime.Object, bool) {
	now := sel.matches(e.res, e.obj)
	if e.typ != watch.Modified {
		return e.typ, e.obj, now
	}
	was := sel.matches(e.res, e.old)
	switch {
	case now && was:
		return watch.Modified, e.obj, true
	case now:
		return watch.Added, e.obj, true
	case was:
		old := e.old.DeepCopyObject()
		m, _ := meta.Accessor(old)
		m.SetResourceVersion(strconv.FormatUint(e.rv, 10))
		return watch.Deleted, old, true
	}
	return "", nil, false
}

// discovery serves /version and the discovery documents (always JSON, as kube-apiserver serves them to
// clients that do not ask for the aggregated form), and reports whether path was one of them.
func discovery(w http.ResponseWriter, r *http.Request, path string) bool {
	info, _ := negotiate(runtime.ContentTypeJSON)
	resourceList := func(gv schema.GroupVersion) *metav1.APIResourceList {
		l := &metav1.APIResourceList{GroupVersion: gv.String()}
		for _, res := range resources {
			if res.gvk.GroupVersion() == gv {
				l.APIResources = append(l.APIResources, metav1.APIResource{
					Name: res.name, SingularName: strings.ToLower(res.gvk.Kind), Namespaced: res.namespaced,
					Kind: res.gvk.Kind, Verbs: metav1.Verbs{"get", "list", "watch"},
				})
			}
		}
		return l
	}
	switch path {
	case "version":
		major, minor, _ := strings.Cut(strings.TrimPrefix(gitVersion, "v"), ".")
		minor, _, _ = strings.Cut(minor, ".")
		w.Header().Set("Content-Type", runtime.ContentTypeJSON)
		json.NewEncoder(w).Encode(version.Info{Major: major, Minor: minor, GitVersion: gitVersion, Platform: "linux/amd64"})
	case "api":
		write(w, info, metav1.Unversioned, http.StatusOK, &metav1.APIVersions{
			Versions:                   []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
		})
	case "apis":
		groups := &metav1.APIGroupList{}
		for _, res := range resources {
			gv := res.gvk.GroupVersion()
			if gv.Group == "" || (len(groups.Groups) > 0 && groups.Groups[len(groups.Groups)-1].Name == gv.Group) {
				continue
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			groups.Groups = append(groups.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
		write(w, info, metav1.Unversioned, http.StatusOK, groups)
	default:
		var gv schema.GroupVersion
		if v, ok := strings.CutPrefix(path, "api/"); ok && !strings.Contains(v, "/") {
			gv = schema.GroupVersion{Version: v}
		} else if g, ok := strings.CutPrefix(path, "apis/"); ok && strings.Count(g, "/") == 1 {
			group, v, _ := strings.Cut(g, "/")
			gv = schema.GroupVersion{Group: group, Version: v}
		} else {
			return false
		}
		l := resourceList(gv)
		if len(l.APIResources) == 0 {
			fail(w, info, apierrors.NewNotFound(schema.GroupResource{}, path))
			return true
		}
		write(w, info, metav1.Unversioned, http.StatusOK, l)
	}
	return true
}

//go:build helmchart

// The helm template test needs helm (go install helm.sh/helm/v3/cmd/helm@v3.22.0, from the Go module
// proxy) and the CoreDNS chart 1.46.2 (helm pull coredns --repo https://coredns.github.io/helm --version
// 1.46.2 --untar), which CI cannot reach: it runs with
//
//	SRVHEALTH_COREDNS_CHART=DIR go test -tags helmchart -run TestDeployHelmTemplate .

package srvhealth_test

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// chartVersion is the CoreDNS chart deploy/helm is written for.
const chartVersion = "1.46.2"

// rendered is what `helm template` made, by kind and name.
type rendered struct {
	docs map[string]map[string][]byte // kind -> name -> YAML
}

func (r rendered) one(t *testing.T, kind string, into any) string {
	t.Helper()
	if len(r.docs[kind]) != 1 {
		t.Fatalf("%d %s objects, want 1: %v", len(r.docs[kind]), kind, slices.Collect(maps.Keys(r.docs[kind])))
	}
	for name, doc := range r.docs[kind] {
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
		return name
	}
	return ""
}

// helmTemplate runs `helm template` on the chart with the values files and extra arguments.
func helmTemplate(t *testing.T, helm, chart, release string, files []string, args ...string) rendered {
	t.Helper()
	argv := []string{"template", release, chart, "--namespace", "kube-system"}
	for _, f := range files {
		argv = append(argv, "-f", f)
	}
	out, err := exec.Command(helm, append(argv, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm %s: %v\n%s", strings.Join(argv, " "), err, stderr)
	}
	r := rendered{docs: map[string]map[string][]byte{}}
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("helm output: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		if meta.Metadata.Labels["helm.sh/chart"] != "coredns-"+chartVersion {
			t.Errorf("%s %s: chart %q, want coredns-%s", meta.Kind, meta.Metadata.Name, meta.Metadata.Labels["helm.sh/chart"], chartVersion)
		}
		if r.docs[meta.Kind] == nil {
			r.docs[meta.Kind] = map[string][]byte{}
		}
		r.docs[meta.Kind][meta.Metadata.Name] = doc
	}
	return r
}

// helmRelease returns the release name and the extra arguments of an install path: beside cluster DNS, a
// release of its own; replacing it, the release and the address of the cluster DNS it replaces.
func helmRelease(path string) (string, []string) {
	if path == "replace" {
		return "coredns", []string{"--set", "service.clusterIP=10.96.0.10"}
	}
	return "srvhealth", nil
}

// lintAndRender lints the chart with the values files and arguments, renders it, and returns the objects
// and the values.
func lintAndRender(t *testing.T, helm, chart, release string, files, args []string) (rendered, helmChartValues) {
	t.Helper()
	lint := append([]string{"lint", chart}, args...)
	for _, f := range files {
		lint = append(lint, "-f", f)
	}
	if out, err := exec.Command(helm, lint...).CombinedOutput(); err != nil {
		t.Errorf("helm lint: %v\n%s", err, out)
	}
	return helmTemplate(t, helm, chart, release, files, args...), readHelmValues(t, files)
}

// helmAndChart returns helm and the CoreDNS chart (a directory or .tgz, SRVHEALTH_COREDNS_CHART), or skips:
// the file is built only with the helmchart tag, by hand, where both are at hand (see the top of the file).
func helmAndChart(t *testing.T) (string, string) {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		var err error
		if helm, err = exec.LookPath("helm"); err != nil {
			t.Skip("helm not installed (go install helm.sh/helm/v3/cmd/helm@v3.22.0)")
		}
	}
	chart := os.Getenv("SRVHEALTH_COREDNS_CHART")
	if chart == "" {
		t.Skip("SRVHEALTH_COREDNS_CHART not set (helm pull coredns --repo https://coredns.github.io/helm --version " + chartVersion + " --untar)")
	}
	return helm, chart
}

// TestDeployHelmTemplate renders the CoreDNS chart with both install paths of deploy/helm through helm
// itself and checks the objects (issue 24 items 1-5): beside cluster DNS, a CoreDNS of its own whose
// names clash with nothing kubeadm, EKS or k3s made; replacing it, the names, selectors and address of the
// cluster's DNS. Both run as a cluster's DNS must: numeric non-root user with NET_BIND_SERVICE only,
// pinned image, a ServiceAccount of their own, priority, disruption budget, spread, the CriticalAddonsOnly
// toleration, and a NetworkPolicy that selects their pods.
func TestDeployHelmTemplate(t *testing.T) {
	helm, chart := helmAndChart(t)
	stock := map[string]string{"k8s-app": "kube-dns"} // kubeadm's coredns pods
	for _, path := range []string{"beside", "replace"} {
		t.Run(path, func(t *testing.T) {
			files := helmPaths[path]
			release, args := helmRelease(path)
			r, v := lintAndRender(t, helm, chart, release, files, args)

			var dep appsv1.Deployment
			depName := r.one(t, "Deployment", &dep)
			var cm corev1.ConfigMap
			cmName := r.one(t, "ConfigMap", &cm)
			var sa corev1.ServiceAccount
			saName := r.one(t, "ServiceAccount", &sa)
			var crb rbacv1.ClusterRoleBinding
			r.one(t, "ClusterRoleBinding", &crb)
			var pdb policyv1.PodDisruptionBudget
			r.one(t, "PodDisruptionBudget", &pdb)
			var svc corev1.Service
			svcName := ""
			for name, doc := range r.docs["Service"] {
				if !strings.HasSuffix(name, "-metrics") {
					svcName = name
					if err := yaml.UnmarshalStrict(doc, &svc); err != nil {
						t.Fatal(err)
					}
				}
			}

			checkClusterCorefile(t, path+" ConfigMap", cm.Data["Corefile"])
			pod := dep.Spec.Template
			ps := pod.Spec
			if len(ps.Containers) != 1 {
				t.Fatalf("containers %+v", ps.Containers)
			}
			c := ps.Containers[0]
			if want := v.Image.Repository + ":" + v.Image.Tag; c.Image != want || strings.HasSuffix(c.Image, ":latest") || c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("image %s (%s), want %s pinned", c.Image, c.ImagePullPolicy, want)
			}
			if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and RuntimeDefault (restricted Pod Security)", sc)
			}
			if sc := c.SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) ||
				!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("container securityContext %+v", sc)
			}
			if ps.ServiceAccountName != saName || len(crb.Subjects) != 1 || crb.Subjects[0].Name != saName || crb.Subjects[0].Namespace != "kube-system" {
				t.Errorf("pods run as %q, ClusterRoleBinding subjects %+v, want the chart's ServiceAccount %s", ps.ServiceAccountName, crb.Subjects, saName)
			}
			if ps.PriorityClassName != "system-cluster-critical" || !slices.ContainsFunc(ps.Tolerations, func(t corev1.Toleration) bool {
				return t.Key == "CriticalAddonsOnly" && t.Operator == corev1.TolerationOpExists
			}) {
				t.Errorf("priority class %q, tolerations %+v", ps.PriorityClassName, ps.Tolerations)
			}
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 || ps.Affinity == nil || ps.Affinity.PodAntiAffinity == nil || len(ps.TopologySpreadConstraints) == 0 {
				t.Errorf("replicas %v, affinity %+v, spread %+v", dep.Spec.Replicas, ps.Affinity, ps.TopologySpreadConstraints)
			}
			for _, term := range ps.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				if sel, _ := metav1.LabelSelectorAsSelector(term.PodAffinityTerm.LabelSelector); sel == nil || !sel.Matches(labels.Set(pod.Labels)) {
					t.Errorf("anti-affinity selector %v does not select the pods %v", term.PodAffinityTerm.LabelSelector, pod.Labels)
				}
			}
			for _, sel := range []*metav1.LabelSelector{dep.Spec.Selector, pdb.Spec.Selector, {MatchLabels: svc.Spec.Selector}} {
				s, err := metav1.LabelSelectorAsSelector(sel)
				if err != nil || !s.Matches(labels.Set(pod.Labels)) {
					t.Errorf("selector %v does not select the pods %v", sel, pod.Labels)
				}
			}
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("disruption budget %+v", pdb.Spec)
			}
			np := readNetworkPolicy(t, "deploy/helm/networkpolicy-"+path+".yaml")
			checkNetworkPolicy(t, path, np, pod.Labels, srvhealthProperties(cm.Data["Corefile"])[0])

			switch path {
			case "beside":
				// Nothing of the cluster's DNS is touched: no name kubeadm, EKS or k3s use, and neither the
				// pods nor the policy take the label of the cluster's DNS pods.
				for _, name := range []string{depName, cmName, saName, svcName, crb.Name, crb.RoleRef.Name} {
					if name == "coredns" || name == "kube-dns" || name == "system:coredns" {
						t.Errorf("object %s clashes with the cluster's DNS", name)
					}
				}
				if _, ok := pod.Labels["k8s-app"]; ok {
					t.Errorf("pods labelled %v: the cluster's kube-dns Service and policies would select them", pod.Labels)
				}
				if sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); sel.Matches(labels.Set(stock)) {
					t.Errorf("NetworkPolicy selects the cluster's own DNS pods %v", stock)
				}
				if svc.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("Service type %s", svc.Spec.Type)
				}
			case "replace":
				if depName != "coredns" || cmName != "coredns" || saName != "coredns" || svcName != "kube-dns" || svc.Spec.ClusterIP != "10.96.0.10" {
					t.Errorf("Deployment %s, ConfigMap %s, ServiceAccount %s, Service %s at %s: want kubeadm's names and the cluster DNS address",
						depName, cmName, saName, svcName, svc.Spec.ClusterIP)
				}
				// The selectors kubeadm's objects have: a Deployment's cannot change, and the Service must
				// keep selecting the old pods while the new ones roll out.
				if !maps.Equal(dep.Spec.Selector.MatchLabels, stock) || len(dep.Spec.Selector.MatchExpressions) > 0 || !maps.Equal(svc.Spec.Selector, stock) {
					t.Errorf("Deployment selector %v, Service selector %v, want %v", dep.Spec.Selector, svc.Spec.Selector, stock)
				}
				for kind, a := range map[string]map[string]string{"Deployment": dep.Annotations, "Service": svc.Annotations, "ConfigMap": cm.Annotations} {
					if a["helm.sh/resource-policy"] != "keep" {
						t.Errorf("%s without helm.sh/resource-policy: keep: helm uninstall would delete the cluster's DNS", kind)
					}
				}
				if ps.DNSPolicy != corev1.DNSDefault {
					t.Errorf("dnsPolicy %s: the cluster's DNS cannot resolve through itself", ps.DNSPolicy)
				}
			}

			// With the Prometheus operator: the ServiceMonitor carries the labels Prometheus selects.
			m := helmTemplate(t, helm, chart, release, files, append(args, "--set", "prometheus.monitor.enabled=true")...)
			var sm struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			for _, doc := range m.docs["ServiceMonitor"] {
				if err := yaml.Unmarshal(doc, &sm); err != nil {
					t.Fatal(err)
				}
			}
			for k, want := range v.Prometheus.Monitor.AdditionalLabels {
				if sm.Metadata.Labels[k] != want {
					t.Errorf("ServiceMonitor labels %v, want %s=%s", sm.Metadata.Labels, k, want)
				}
			}
		})
	}
}

// TestDeployHelmTemplateFleet renders both paths with the fleet's values through helm itself and checks
// what TestDeployHelmFleet takes on trust: the chart mounts the key's Secret read-only, with the mode given,
// at the directory of fleet_key; the ConfigMap's srvhealth block is the one the values give; and the pods
// carry the labels helmPods says, which fleet-gossip-PATH.yaml's Service and NetworkPolicy select.
func TestDeployHelmTemplateFleet(t *testing.T) {
	helm, chart := helmAndChart(t)
	for _, path := range []string{"beside", "replace"} {
		t.Run(path, func(t *testing.T) {
			release, args := helmRelease(path)
			r, v := lintAndRender(t, helm, chart, release, helmPaths["fleet-"+path], args)
			var dep appsv1.Deployment
			r.one(t, "Deployment", &dep)
			var cm corev1.ConfigMap
			r.one(t, "ConfigMap", &cm)

			if got, want := srvhealthProperties(cm.Data["Corefile"]), srvhealthProperties(chartCorefile(v)); !slices.Equal(got, want) {
				t.Errorf("rendered srvhealth block:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			pod := dep.Spec.Template
			if !maps.Equal(pod.Labels, helmPods[path]) {
				t.Errorf("pods labelled %v, helmPods says %v", pod.Labels, helmPods[path])
			}
			sec := v.ExtraSecrets[0]
			if !slices.ContainsFunc(pod.Spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == sec.Name && m.MountPath == sec.MountPath && m.ReadOnly
			}) {
				t.Errorf("volume mounts %+v: want %s read-only at %s", pod.Spec.Containers[0].VolumeMounts, sec.Name, sec.MountPath)
			}
			if !slices.ContainsFunc(pod.Spec.Volumes, func(vol corev1.Volume) bool {
				s := vol.Secret
				return vol.Name == sec.Name && s != nil && s.SecretName == sec.Name && s.DefaultMode != nil && *s.DefaultMode == 0o444
			}) {
				t.Errorf("volumes %+v: want Secret %s with mode 0444", pod.Spec.Volumes, sec.Name)
			}
			svc, np := readGossip(t, "deploy/helm/fleet-gossip-"+path+".yaml")
			for what, sel := range map[string]*metav1.LabelSelector{"Service": {MatchLabels: svc.Spec.Selector}, "NetworkPolicy": &np.Spec.PodSelector} {
				if !selects(t, sel, pod.Labels) {
					t.Errorf("%s selector %v does not select the rendered pods %v", what, sel, pod.Labels)
				}
			}
		})
	}
}

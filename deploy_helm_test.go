package srvhealth_test

import (
	"os"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// readNetworkPolicy reads the NetworkPolicy of deploy/helm for a path.
func readNetworkPolicy(t *testing.T, file string) networkingv1.NetworkPolicy {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var np networkingv1.NetworkPolicy
	if err := yaml.UnmarshalStrict(data, &np); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return np
}

// checkNetworkPolicy checks that np selects the pods and lets them reach what the srvhealth block probes:
// every port of the namespace of the zone (NAME.svc.cluster.local), and the API server.
func checkNetworkPolicy(t *testing.T, where string, np networkingv1.NetworkPolicy, pod map[string]string, srvhealthLine string) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(pod)) {
		t.Errorf("%s: NetworkPolicy selector %s does not select the chart's pods %v", where, sel, pod)
	}
	f := strings.Fields(strings.TrimSuffix(srvhealthLine, "{"))
	ns, ok := "", len(f) == 2 && strings.HasSuffix(f[1], ".svc.cluster.local")
	if ok {
		ns = strings.TrimSuffix(f[1], ".svc.cluster.local")
	}
	if !ok || strings.Contains(ns, ".") {
		t.Fatalf("%s: srvhealth line %q: want one zone NAMESPACE.svc.cluster.local", where, srvhealthLine)
	}
	toNamespace, apiServer := false, false
	for _, r := range np.Spec.Egress {
		for _, to := range r.To {
			if to.NamespaceSelector != nil && to.PodSelector == nil && to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == ns && len(r.Ports) == 0 {
				toNamespace = true
			}
		}
		for _, p := range r.Ports {
			if len(r.To) == 0 && p.Port != nil && p.Port.IntVal == 443 {
				apiServer = true
			}
		}
	}
	if !toNamespace || !apiServer {
		t.Errorf("%s: NetworkPolicy egress %+v: want every port of namespace %s (the probes use each SRV record's port) and the API server", where, np.Spec.Egress, ns)
	}
}

package srvhealth_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// helmPods are the labels the chart (1.46.2) gives the pods of each path, with the release names of the
// install commands (srvhealth beside, coredns replacing).
var helmPods = map[string]map[string]string{
	"beside":  {"app.kubernetes.io/name": "coredns", "app.kubernetes.io/instance": "srvhealth"},
	"replace": {"k8s-app": "kube-dns", "app.kubernetes.io/name": "coredns", "app.kubernetes.io/instance": "coredns"},
}

// gossipPort is the fleet's port in deploy/.
const gossipPort = 7946

// withoutFleet returns a Corefile with its comments and the fleet's lines left out.
func withoutFleet(corefile string) string {
	var out []string
	for l := range strings.SplitSeq(corefile, "\n") {
		code, _, _ := strings.Cut(l, "#")
		switch f := strings.Fields(code); {
		case len(f) == 0 && strings.TrimSpace(l) != "":
		case len(f) > 0 && strings.HasPrefix(f[0], "fleet"):
		default:
			out = append(out, strings.TrimRight(code, " "))
		}
	}
	return strings.Join(out, "\n")
}

// readGossip reads fleet-gossip-PATH.yaml strictly: the headless Service and the NetworkPolicy.
func readGossip(t *testing.T, file string) (corev1.Service, networkingv1.NetworkPolicy) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		svc corev1.Service
		np  networkingv1.NetworkPolicy
	)
	docs := bytes.Split(data, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%s: %d documents, want the Service and the NetworkPolicy", file, len(docs))
	}
	for i, into := range []any{&svc, &np} {
		if err := yaml.UnmarshalStrict(docs[i], into); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
	}
	if svc.Kind != "Service" || np.Kind != "NetworkPolicy" {
		t.Fatalf("%s: %s and %s, want a Service and a NetworkPolicy", file, svc.Kind, np.Kind)
	}
	return svc, np
}

// selects reports whether sel selects the pods labelled pod.
func selects(t *testing.T, sel *metav1.LabelSelector, pod map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(pod))
}

// gossipPorts reports whether a NetworkPolicy rule's ports are the gossip port over UDP and TCP.
func gossipPorts(ports []networkingv1.NetworkPolicyPort) bool {
	var got []string
	for _, p := range ports {
		if p.Protocol != nil && p.Port != nil && p.Port.IntValue() == gossipPort {
			got = append(got, string(*p.Protocol))
		}
	}
	slices.Sort(got)
	return len(ports) == 2 && slices.Equal(got, []string{"TCP", "UDP"})
}

// TestDeployHelmFleet checks the fleet's Helm files for both paths (issue 23, Kubernetes). fleet-PATH.yaml,
// read strictly against the chart's values on top of values.yaml and PATH.yaml, changes nothing but the
// mounted Secret and the srvhealth block's fleet and fleet_key lines, and CoreDNS and srvhealth accept its
// Corefile; the key's file is in the mounted Secret and readable by the image's non-root user; the fleet's
// PEER is the headless Service of fleet-gossip-PATH.yaml on its port; that Service and the NetworkPolicy
// select the path's pods and no other path's, the policy lets only those pods reach the gossip port and
// keeps DNS open, and networkpolicy-PATH.yaml, where egress is restricted, lets them reach one another.
func TestDeployHelmFleet(t *testing.T) {
	for _, path := range []string{"beside", "replace"} {
		t.Run(path, func(t *testing.T) {
			pod := helmPods[path]
			base := readHelmValues(t, helmPaths[path])
			v := readHelmValues(t, helmPaths["fleet-"+path])
			corefile := chartCorefile(v)
			if withoutFleet(corefile) != withoutFleet(chartCorefile(base)) {
				t.Errorf("the fleet's Corefile is not %s.yaml's with two lines more:\n%s\nvs\n%s", path, withoutFleet(corefile), withoutFleet(chartCorefile(base)))
			}
			rest := v
			rest.ExtraSecrets, rest.Servers = nil, base.Servers
			if !reflect.DeepEqual(rest, base) {
				t.Errorf("fleet-%s.yaml changes values besides extraSecrets and servers", path)
			}

			var fleet, keyFile []string
			for _, p := range srvhealthProperties(corefile) {
				switch f := strings.Fields(p); f[0] {
				case "fleet":
					fleet = f
				case "fleet_key":
					keyFile = f
				}
			}
			if len(fleet) != 3 || len(keyFile) != 2 {
				t.Fatalf("fleet %q, fleet_key %q: want fleet ADDR:PORT PEER and fleet_key FILE", fleet, keyFile)
			}

			// The key: a file of the one Secret mounted, readable by uid 65532 (the pods set no fsGroup, so
			// the file is root's), and named as the Secret's key in the command that makes it.
			if len(v.ExtraSecrets) != 1 {
				t.Fatalf("extraSecrets %+v, want the fleet's key", v.ExtraSecrets)
			}
			sec := v.ExtraSecrets[0]
			mode := 400 // the chart's default
			if sec.DefaultMode != nil {
				mode = *sec.DefaultMode
			}
			if filepath.Dir(keyFile[1]) != sec.MountPath || mode&0o004 == 0 || mode&0o222 != 0 {
				t.Errorf("fleet_key %s, Secret %s mounted at %s with mode %#o: want the key's file in it, readable by all and written by none", keyFile[1], sec.Name, sec.MountPath, mode)
			}
			values, err := os.ReadFile("deploy/helm/fleet-" + path + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(values), "create secret generic "+sec.Name+" \\\n#     --from-literal="+filepath.Base(keyFile[1])+"=") {
				t.Errorf("fleet-%s.yaml does not say how to make Secret %s with key %s", path, sec.Name, filepath.Base(keyFile[1]))
			}
			// CoreDNS and srvhealth accept the Corefile, with a key where the Secret would be.
			key := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			want := []string{}
			if path == "replace" {
				want = []string{"forward", "cache", "loop"}
			}
			checkClusterCorefile(t, "fleet-"+path, strings.Replace(corefile, "fleet_key "+keyFile[1], "fleet_key "+key, 1), want...)

			// The peers: the headless Service, on the port the member binds.
			svc, np := readGossip(t, "deploy/helm/fleet-gossip-"+path+".yaml")
			if want := "0.0.0.0:7946"; fleet[1] != want {
				t.Errorf("fleet binds %s, want %s", fleet[1], want)
			}
			if want := svc.Name + "." + svc.Namespace + ".svc.cluster.local"; fleet[2] != want {
				t.Errorf("fleet's peer %s, want the headless Service %s", fleet[2], want)
			}
			var protos []string
			for _, p := range svc.Spec.Ports {
				if p.Port == gossipPort && p.TargetPort.IntValue() == gossipPort {
					protos = append(protos, string(p.Protocol))
				}
			}
			slices.Sort(protos)
			if svc.Namespace != "kube-system" || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || !slices.Equal(protos, []string{"TCP", "UDP"}) || len(svc.Spec.Ports) != 2 {
				t.Errorf("Service %s/%s: clusterIP %q, publishNotReadyAddresses %v, ports %+v: want headless, listing pods not ready yet, %d over UDP and TCP",
					svc.Namespace, svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses, svc.Spec.Ports, gossipPort)
			}

			// The pods of this path and no others: not the other path's, nor (beside) the cluster's DNS.
			others := []map[string]string{{"k8s-app": "kube-dns"}}
			for p, labels := range helmPods {
				if p != path {
					others = append(others, labels)
				}
			}
			for what, sel := range map[string]*metav1.LabelSelector{"Service": {MatchLabels: svc.Spec.Selector}, "NetworkPolicy": &np.Spec.PodSelector} {
				if !selects(t, sel, pod) {
					t.Errorf("%s selector %v does not select the pods %v", what, sel, pod)
				}
				for _, o := range others {
					if selects(t, sel, o) {
						t.Errorf("%s selector %v selects other pods %v", what, sel, o)
					}
				}
			}

			// Ingress only (an Egress type would cut the probes where nothing else allows them); the gossip
			// port from the pods themselves, DNS from anywhere.
			if np.Namespace != "kube-system" || !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Egress) > 0 {
				t.Errorf("NetworkPolicy %s/%s: types %v, egress %+v: want Ingress only", np.Namespace, np.Name, np.Spec.PolicyTypes, np.Spec.Egress)
			}
			fromPods, dns := false, 0
			for _, r := range np.Spec.Ingress {
				if gossipPorts(r.Ports) && len(r.From) == 1 && r.From[0].PodSelector != nil && r.From[0].NamespaceSelector == nil && r.From[0].IPBlock == nil &&
					selects(t, r.From[0].PodSelector, pod) && !slices.ContainsFunc(others, func(o map[string]string) bool { return selects(t, r.From[0].PodSelector, o) }) {
					fromPods = true
				}
				for _, p := range r.Ports {
					if p.Port.IntValue() == gossipPort && (len(r.From) != 1 || r.From[0].PodSelector == nil) {
						t.Errorf("ingress rule %+v opens the gossip port beyond the pods", r)
					}
					if len(r.From) == 0 && p.Port.IntValue() == 53 {
						dns++
					}
				}
			}
			if !fromPods || dns != 2 {
				t.Errorf("NetworkPolicy ingress %+v: want the gossip port from the pods only, and DNS over UDP and TCP from anywhere", np.Spec.Ingress)
			}

			egress := readNetworkPolicy(t, "deploy/helm/networkpolicy-"+path+".yaml")
			if !slices.ContainsFunc(egress.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
				return gossipPorts(r.Ports) && len(r.To) == 1 && r.To[0].PodSelector != nil && r.To[0].NamespaceSelector == nil && selects(t, r.To[0].PodSelector, pod)
			}) {
				t.Errorf("networkpolicy-%s.yaml egress %+v: the pods cannot reach one another's gossip port", path, egress.Spec.Egress)
			}
		})
	}
}

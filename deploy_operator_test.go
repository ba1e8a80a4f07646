package srvhealth_test

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var updateOperator = flag.Bool("update-operator", false, "rewrite "+operatorFile+" from the alerting rules and the dashboard")

const operatorFile = "deploy/prometheus/operator.yaml"

// operatorManifests is deploy/prometheus/operator.yaml as made from the rules and the dashboard: the rule
// file's groups, comments and all, as a PrometheusRule's spec, and the dashboard as a ConfigMap Grafana's
// dashboard sidecar loads.
func operatorManifests(t *testing.T) []byte {
	t.Helper()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(rules, []byte("\ngroups:\n"))
	if i < 0 {
		t.Fatalf("%s: no groups", rulesFile)
	}
	var b strings.Builder
	b.WriteString(`# srvhealth's alerts and dashboard for the Prometheus operator and Grafana's dashboard sidecar (as in
# kube-prometheus-stack):
#   kubectl apply -f deploy/prometheus/operator.yaml
# Set the PrometheusRule's labels to what your Prometheus' ruleSelector matches (release: kube-prometheus-stack
# as shipped, like the ServiceMonitor of deploy/helm/values.yaml), and put the ConfigMap in a namespace the
# sidecar searches (its searchNamespace).
#
# Made from srvhealth-rules.yaml and ../grafana/srvhealth.json: edit those, then
#   go test -run TestDeployOperator -update-operator .
# (deploy_operator_test.go fails while this file differs from them).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: srvhealth
  namespace: kube-system
  labels:
    release: kube-prometheus-stack
spec:
`)
	for l := range strings.SplitSeq(strings.TrimSuffix(string(rules[i+1:]), "\n"), "\n") {
		if l != "" {
			l = "  " + l
		}
		b.WriteString(l + "\n")
	}
	b.WriteString(`---
apiVersion: v1
kind: ConfigMap
metadata:
  name: srvhealth-dashboard
  namespace: kube-system
  labels:
    grafana_dashboard: "1"
data:
  srvhealth.json: |
`)
	for l := range strings.SplitSeq(strings.TrimSuffix(string(dash), "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return []byte(b.String())
}

// TestDeployOperator checks that deploy/prometheus/operator.yaml holds the alerting rules and the
// dashboard as they are (issue 24 item 7): its PrometheusRule's groups are the rule file's, its ConfigMap's
// dashboard is the JSON file byte for byte.
func TestDeployOperator(t *testing.T) {
	want := operatorManifests(t)
	if *updateOperator {
		if err := os.WriteFile(operatorFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(operatorFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s and %s: go test -run TestDeployOperator -update-operator .", operatorFile, rulesFile, dashboardFile)
	}

	docs := bytes.Split(got, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2", len(docs))
	}
	var pr struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec alertRules `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(docs[0], &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || !reflect.DeepEqual(pr.Spec, readRules(t)) {
		t.Errorf("PrometheusRule %s %s: groups differ from %s", pr.APIVersion, pr.Kind, rulesFile)
	}
	v := readHelmValues(t, helmPaths["beside"])
	for k, val := range v.Prometheus.Monitor.AdditionalLabels {
		if pr.Metadata.Labels[k] != val {
			t.Errorf("PrometheusRule labels %v, want the ServiceMonitor's %s=%s", pr.Metadata.Labels, k, val)
		}
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(docs[1], &cm); err != nil {
		t.Fatal(err)
	}
	dash, _ := os.ReadFile(dashboardFile)
	if cm.Kind != "ConfigMap" || cm.Labels["grafana_dashboard"] != "1" || cm.Data["srvhealth.json"] != string(dash) {
		t.Errorf("ConfigMap %s labels %v: the dashboard differs from %s", cm.Name, cm.Labels, dashboardFile)
	}
}

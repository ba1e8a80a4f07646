package srvhealth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKubernetesManifests checks that every document of the deployment examples parses as YAML and is a
// Kubernetes object, and that the ConfigMap's Corefile uses srvhealth with ready and health.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var obj struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Data       map[string]string `json:"data"`
			}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if obj.APIVersion == "" || obj.Kind == "" {
				t.Errorf("%s document %d has no apiVersion/kind", f, i)
			}
			kinds[obj.Kind] = true
			if obj.Kind == "ConfigMap" {
				cf := obj.Data["Corefile"]
				for _, want := range []string{"srvhealth", "ready", "health", "kubernetes", "prometheus"} {
					if !strings.Contains(cf, want) {
						t.Errorf("Corefile in %s lacks %s", f, want)
					}
				}
			}
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "NetworkPolicy"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

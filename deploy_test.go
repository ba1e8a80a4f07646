package srvhealth_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/srvhealth/srvhealth"
)

// TestKubernetesManifests checks that every document of the deployment examples parses as YAML and is a
// Kubernetes object, and that the ConfigMap's Corefile uses srvhealth with ready and health.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}
	kinds := map[string]bool{}
	var (
		dep           appsv1.Deployment
		nps           []networkingv1.NetworkPolicy
		srvhealthLine string
	)
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
			switch obj.Kind {
			case "ConfigMap":
				checkClusterCorefile(t, f, obj.Data["Corefile"], "forward", "cache")
				srvhealthLine = srvhealthProperties(obj.Data["Corefile"])[0]
			case "Deployment":
				if err := yaml.UnmarshalStrict(doc, &dep); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			case "NetworkPolicy":
				var np networkingv1.NetworkPolicy // a fresh one: decoding into a used one merges the two
				if err := yaml.UnmarshalStrict(doc, &np); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				nps = append(nps, np)
			}
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
	// The pods may leave for what any policy that selects them allows (the fleet's adds the gossip port).
	var np networkingv1.NetworkPolicy
	for _, p := range nps {
		if sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector); err == nil && sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			np.Spec.PodSelector = p.Spec.PodSelector
			np.Spec.Egress = append(np.Spec.Egress, p.Spec.Egress...)
		}
	}
	checkNetworkPolicy(t, "deploy/kubernetes", np, dep.Spec.Template.Labels, srvhealthLine)
	if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("deploy/kubernetes: pod securityContext %+v, want runAsNonRoot", sc)
	}
}

// The dashboard and the alerting rules (deploy/grafana, deploy/prometheus) are read by Grafana and Prometheus,
// not by Go: a metric renamed in the plugin would leave them silently empty. The tests below hold every
// query to the metrics the plugin registers, with their types and labels.

const (
	dashboardFile = "deploy/grafana/srvhealth.json"
	rulesFile     = "deploy/prometheus/srvhealth-rules.yaml"
	helmValues    = "deploy/helm/values.yaml"
)

// promQuery is one PromQL expression of the dashboard or the rules, with the labels its output is read by
// (a panel's legend, an alert's annotations).
type promQuery struct {
	where  string
	expr   string
	output []string
}

var (
	metricNameRE   = regexp.MustCompile(`\bcoredns_[A-Za-z0-9_]+`)
	matchersRE     = regexp.MustCompile(`\{([^{}]*)\}`)
	matcherLabelRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE     = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	legendLabelRE  = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	annotLabelRE   = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)
	grafanaVarRE   = regexp.MustCompile(`\$__rate_interval|\$__interval|\$__range|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
)

// exportedMetric is a metric as the plugin's source declares it.
type exportedMetric struct {
	kind   string // Counter, Gauge, Histogram, Summary
	labels []string
}

// sourceMetrics reads the metrics the root package declares with promauto/prometheus New{Counter,Gauge,
// Histogram,Summary}[Vec|Func]. A declaration it cannot read is an error, never skipped.
func sourceMetrics(t *testing.T) map[string]exportedMetric {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"plugin.Namespace": plugin.Namespace, "pluginName": "srvhealth"}
	value := func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := names[e.Name]
			return s, ok
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok {
				s, ok := names[x.Name+"."+e.Sel.Name]
				return s, ok
			}
		}
		return "", false
	}
	newRE := regexp.MustCompile(`^New(Counter|Gauge|Histogram|Summary)(Vec|Func)?$`)
	out := map[string]exportedMetric{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			m := newRE.FindStringSubmatch(sel.Sel.Name)
			if !ok || (pkg.Name != "promauto" && pkg.Name != "prometheus") || m == nil {
				return true
			}
			pos := fset.Position(call.Pos())
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				t.Errorf("%s: cannot read the metric's options", pos)
				return true
			}
			parts := map[string]string{}
			for _, el := range opts.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key := kv.Key.(*ast.Ident).Name
				if key != "Namespace" && key != "Subsystem" && key != "Name" {
					continue
				}
				v, ok := value(kv.Value)
				if !ok {
					t.Errorf("%s: cannot read %s", pos, key)
				}
				parts[key] = v
			}
			em := exportedMetric{kind: m[1]}
			if m[2] == "Vec" {
				labels, ok := call.Args[1].(*ast.CompositeLit)
				if !ok {
					t.Errorf("%s: cannot read the label names", pos)
					return true
				}
				for _, l := range labels.Elts {
					v, ok := value(l)
					if !ok {
						t.Errorf("%s: cannot read a label name", pos)
					}
					em.labels = append(em.labels, v)
				}
			}
			out[prometheus.BuildFQName(parts["Namespace"], parts["Subsystem"], parts["Name"])] = em
			return true
		})
	}
	if len(out) == 0 {
		t.Fatal("no metric declarations found")
	}
	return out
}

// registered reports whether a collector in the default registry, where promauto puts the plugin's metrics,
// describes a metric of this name: registering another one of that name fails then.
func registered(name string) bool {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "deploy_test probe"})
	if err := prometheus.DefaultRegisterer.Register(g); err != nil {
		return true
	}
	prometheus.DefaultRegisterer.Unregister(g)
	return false
}

// checkQueries returns what is wrong with the queries: a metric the plugin does not register, a series
// suffix its type does not have, a label it does not carry, or an output label lost in the aggregation.
func checkQueries(queries []promQuery, exported map[string]exportedMetric) []string {
	var problems []string
	for _, q := range queries {
		names := metricNameRE.FindAllString(q.expr, -1)
		allowed := map[string]bool{"job": true, "instance": true}
		for _, name := range names {
			base, suffix := name, ""
			em, ok := exported[name]
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if b, found := strings.CutSuffix(name, s); !ok && found {
					base, suffix = b, s
					em, ok = exported[b]
				}
			}
			switch {
			case !ok || !registered(base):
				problems = append(problems, fmt.Sprintf("%s: %s is not a metric srvhealth exports", q.where, name))
				continue
			case suffix == "_bucket" && em.kind != "Histogram",
				suffix != "" && em.kind != "Histogram" && em.kind != "Summary":
				problems = append(problems, fmt.Sprintf("%s: %s: %s is a %s", q.where, name, base, em.kind))
				continue
			}
			for _, l := range em.labels {
				allowed[l] = true
			}
			if suffix == "_bucket" {
				allowed["le"] = true
			}
		}
		var used []string
		for _, m := range matchersRE.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range matcherLabelRE.FindAllStringSubmatch(m[1], -1) {
				used = append(used, l[1])
			}
		}
		groupings := groupingRE.FindAllStringSubmatch(q.expr, -1)
		for _, g := range groupings {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					used = append(used, l)
				}
			}
		}
		for _, l := range used {
			if !allowed[l] {
				problems = append(problems, fmt.Sprintf("%s: label %q is not on %v", q.where, l, names))
			}
		}
		// What the output carries: the first (outermost) grouping's labels, or the series' own.
		out := allowed
		if len(groupings) > 0 {
			out = map[string]bool{}
			for l := range strings.SplitSeq(groupings[0][1], ",") {
				out[strings.TrimSpace(l)] = true
			}
		}
		for _, l := range q.output {
			if !out[l] {
				problems = append(problems, fmt.Sprintf("%s: output label %q is not in the result of %s", q.where, l, q.expr))
			}
		}
	}
	return problems
}

// dashboard is the part of Grafana's dashboard JSON model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Targets    []struct {
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		RefID        string         `json:"refId"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels      []panel `json:"panels"` // a collapsed row's
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels returns the panels, rows' nested ones included, except the rows themselves.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, allPanels(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func dashboardQueries(t *testing.T, d dashboard) []promQuery {
	t.Helper()
	var qs []promQuery
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			q := promQuery{where: fmt.Sprintf("panel %q %s", p.Title, tg.RefID), expr: tg.Expr}
			for _, m := range legendLabelRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
				q.output = append(q.output, m[1])
			}
			qs = append(qs, q)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s", v.Name, v.Query)
			}
		}
		for _, e := range slices.Compact([]string{q.Query, v.Definition}) {
			// label_values(SELECTOR, LABEL): the label must be on the selected metric.
			if m := regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`).FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("group by (%s) (%s)", m[2], m[1])
			}
			qs = append(qs, promQuery{where: "variable " + v.Name, expr: e})
		}
	}
	return qs
}

// alertRules is a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func readRules(t *testing.T) alertRules {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var r alertRules
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return r
}

func ruleQueries(r alertRules) []promQuery {
	var qs []promQuery
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			q := promQuery{where: "alert " + rule.Alert, expr: rule.Expr}
			for _, a := range rule.Annotations {
				for _, m := range annotLabelRE.FindAllStringSubmatch(a, -1) {
					q.output = append(q.output, m[1])
				}
			}
			qs = append(qs, q)
		}
	}
	return qs
}

// TestDashboardAndRulesMetrics checks that every query of the dashboard and the alerting rules names only
// metrics srvhealth registers, with series suffixes their type has and labels they carry.
func TestDashboardAndRulesMetrics(t *testing.T) {
	exported := sourceMetrics(t)
	for name := range exported {
		if !registered(name) {
			t.Errorf("%s is declared in the source but not registered", name)
		}
	}
	qs := append(dashboardQueries(t, readDashboard(t)), ruleQueries(readRules(t))...)
	for _, q := range qs {
		if !strings.HasPrefix(q.where, "variable") && len(metricNameRE.FindAllString(q.expr, -1)) == 0 {
			t.Errorf("%s names no srvhealth metric: %q", q.where, q.expr)
		}
	}
	for _, p := range checkQueries(qs, exported) {
		t.Error(p)
	}
}

// TestCheckQueries shows that the check above finds each kind of mistake.
func TestCheckQueries(t *testing.T) {
	exported := sourceMetrics(t)
	bad := []promQuery{
		{where: "renamed", expr: `sum(rate(coredns_srvhealth_drops_total[5m]))`},
		{where: "not a histogram", expr: `rate(coredns_srvhealth_probes_total_bucket[5m])`},
		{where: "wrong label", expr: `sum by (reason) (coredns_srvhealth_all_down_total)`},
		{where: "wrong matcher", expr: `coredns_srvhealth_target_up{service="_sip._udp"}`},
		{where: "lost in aggregation", expr: `sum by (probe) (coredns_srvhealth_target_up) == 0`, output: []string{"target"}},
		{where: "not ours", expr: `coredns_dns_requests_total`},
	}
	if !registered("coredns_srvhealth_target_up") || registered("coredns_srvhealth_no_such_metric") {
		t.Error("registered does not tell a registered metric from a missing one")
	}
	problems := checkQueries(bad, exported)
	for _, q := range bad {
		found := false
		for _, p := range problems {
			found = found || strings.HasPrefix(p, q.where+":")
		}
		if !found {
			t.Errorf("no problem found in %q (%s); all: %v", q.expr, q.where, problems)
		}
	}
	good := []promQuery{{where: "good", expr: `histogram_quantile(0.9, sum by (probe, le) (rate(coredns_srvhealth_probe_duration_seconds_bucket{job="x"}[5m])))`, output: []string{"probe"}}}
	if p := checkQueries(good, exported); len(p) > 0 {
		t.Errorf("problems in a good query: %v", p)
	}
}

// TestDashboardModel checks the dashboard's shape: Grafana's JSON model, a data source variable every
// panel uses, and a panel for each part of the operator's view.
func TestDashboardModel(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	dsVar := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			dsVar = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s does not use the datasource variable", v.Name)
		}
	}
	if !dsVar {
		t.Error("no Prometheus datasource variable named datasource")
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: target %q (refId %q, datasource %+v)", p.Title, tg.Expr, tg.RefID, tg.Datasource)
			}
			refs[tg.RefID] = true
			exprs = append(exprs, tg.Expr)
			// Grafana's time units ("d", "s") rescale: 20 days show as "2.86 week". Days left are
			// numbers of days with a suffix.
			if strings.Contains(tg.Expr, "/ 86400") && p.FieldConfig.Defaults.Unit != "suffix: days" {
				t.Errorf("panel %q shows days with unit %q, want \"suffix: days\"", p.Title, p.FieldConfig.Defaults.Unit)
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"coredns_srvhealth_target_up", "count by (probe)", "coredns_srvhealth_dropped_total", "by (reason)",
		"coredns_srvhealth_all_down_total", "policy)", "histogram_quantile(0.99", "coredns_srvhealth_probe_duration_seconds_bucket",
		"coredns_srvhealth_tls_cert_expiry_timestamp_seconds", "coredns_srvhealth_overflow_total",
		"by (server, service, policy)", "by (target, port, domain)", "coredns_srvhealth_drained",
		"coredns_srvhealth_naptr_dropped_total", "coredns_srvhealth_addresses_dropped_total",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel query has %q", want)
		}
	}
}

// TestDashboardQueriesParse hands every panel query, Grafana's variables filled in, to promtool, which
// parses PromQL as Prometheus does.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range dashboardQueries(t, readDashboard(t)) {
		if strings.HasPrefix(q.where, "variable") {
			continue
		}
		expr := grafanaVarRE.ReplaceAllStringFunc(q.expr, func(v string) string {
			if strings.HasPrefix(v, "$__") {
				return "5m"
			}
			return ".*" // the dashboard's own variables appear only in regexp matchers
		})
		quoted, _ := json.Marshal(expr)
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
}

// TestAlertRules checks that each alert carries a severity and a summary and a description, and that the
// operator's five cases are covered.
func TestAlertRules(t *testing.T) {
	r := readRules(t)
	var exprs []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "" {
				t.Errorf("group %s: a rule that is no alert: %q", g.Name, rule.Expr)
			}
			if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q", rule.Alert, s)
			}
			if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or a description", rule.Alert)
			}
			exprs = append(exprs, rule.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{"target_up", "all_down_total", "tls_cert_expiry_timestamp_seconds", "resolve_failures_total", "overflow_total"} {
		if !strings.Contains(all, "coredns_srvhealth_"+m) {
			t.Errorf("no alert on coredns_srvhealth_%s", m)
		}
	}
}

// helmChartValues is the part of the CoreDNS Helm chart's values (chart coredns, 1.46.2) that
// deploy/helm's values set. The chart has no values schema; this is read strictly instead: a key the chart
// does not have, or one misspelt, fails.
type helmChartValues struct {
	FullnameOverride    string `json:"fullnameOverride"`
	K8sAppLabelOverride string `json:"k8sAppLabelOverride"`
	IsClusterService    *bool  `json:"isClusterService"`
	Image               struct {
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		PullPolicy string `json:"pullPolicy"`
	} `json:"image"`
	ReplicaCount        int                          `json:"replicaCount"`
	PodDisruptionBudget map[string]any               `json:"podDisruptionBudget"`
	Affinity            map[string]any               `json:"affinity"`
	TopologySpread      []map[string]any             `json:"topologySpreadConstraints"`
	PriorityClassName   string                       `json:"priorityClassName"`
	Tolerations         []map[string]string          `json:"tolerations"`
	ServiceAccount      struct{ Create bool }        `json:"serviceAccount"`
	Resources           map[string]map[string]string `json:"resources"`
	CustomAnnotations   map[string]string            `json:"customAnnotations"`
	Service             struct {
		Name      string            `json:"name"`
		ClusterIP string            `json:"clusterIP"`
		Selector  map[string]string `json:"selector"`
	} `json:"service"`
	Deployment struct {
		Selector map[string]any `json:"selector"`
	} `json:"deployment"`
	Prometheus struct {
		Service struct {
			Enabled bool `json:"enabled"`
		} `json:"service"`
		Monitor struct {
			Enabled          bool              `json:"enabled"`
			AdditionalLabels map[string]string `json:"additionalLabels"`
		} `json:"monitor"`
	} `json:"prometheus"`
	PodSecurityContext struct {
		RunAsNonRoot   bool              `json:"runAsNonRoot"`
		SeccompProfile map[string]string `json:"seccompProfile"`
	} `json:"podSecurityContext"`
	SecurityContext struct {
		AllowPrivilegeEscalation bool `json:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Add  []string `json:"add"`
			Drop []string `json:"drop"`
		} `json:"capabilities"`
		ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem"`
	} `json:"securityContext"`
	Servers []struct {
		Zones []struct {
			Zone   string `json:"zone"`
			Scheme string `json:"scheme"`
			UseTCP bool   `json:"use_tcp"`
		} `json:"zones"`
		Port    int `json:"port"`
		Plugins []struct {
			Name        string `json:"name"`
			Parameters  any    `json:"parameters"` // the chart's own values give numbers here too
			ConfigBlock string `json:"configBlock"`
		} `json:"plugins"`
	} `json:"servers"`
	// Secrets mounted read-only in the container, each at its mountPath (the fleet's key).
	ExtraSecrets []struct {
		Name        string `json:"name"`
		MountPath   string `json:"mountPath"`
		DefaultMode *int   `json:"defaultMode"` // decimal: the chart's default, 400, is 0620
	} `json:"extraSecrets"`
}

// helmPaths are the two ways to install, and each with the fleet: the values files, in the order helm is
// given them.
var helmPaths = map[string][]string{
	"beside":        {"deploy/helm/values.yaml", "deploy/helm/beside.yaml"},
	"replace":       {"deploy/helm/values.yaml", "deploy/helm/replace.yaml"},
	"fleet-beside":  {"deploy/helm/values.yaml", "deploy/helm/beside.yaml", "deploy/helm/fleet-beside.yaml"},
	"fleet-replace": {"deploy/helm/values.yaml", "deploy/helm/replace.yaml", "deploy/helm/fleet-replace.yaml"},
}

// mergeValues merges values files as helm does: maps key by key, anything else (lists too) replaced.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func readHelmValues(t *testing.T, files []string) helmChartValues {
	t.Helper()
	merged := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		mergeValues(merged, m)
	}
	data, err := yaml.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	var v helmChartValues
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		t.Fatalf("%v: %v", files, err)
	}
	return v
}

// chartCorefile renders the Corefile from the values as the chart's templates/configmap.yaml does.
func chartCorefile(v helmChartValues) string {
	var b strings.Builder
	for _, s := range v.Servers {
		var zones []string
		for _, z := range s.Zones {
			zones = append(zones, z.Scheme+cmp.Or(z.Zone, "."))
		}
		b.WriteString(cmp.Or(strings.Join(zones, " "), "."))
		if s.Port != 0 {
			fmt.Fprintf(&b, ":%d ", s.Port)
		}
		b.WriteString("{\n")
		for _, p := range s.Plugins {
			b.WriteString("    " + p.Name)
			if p.Parameters != nil {
				fmt.Fprintf(&b, " %v", p.Parameters)
			}
			if p.ConfigBlock != "" {
				b.WriteString(" {\n")
				for l := range strings.SplitSeq(p.ConfigBlock, "\n") {
					b.WriteString("        " + l + "\n")
				}
				b.WriteString("    }")
			}
			b.WriteString("\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// srvhealthProperties returns the lines of the first srvhealth block in a Corefile, comments and
// indentation left out.
func srvhealthProperties(corefile string) []string {
	var out []string
	in := false
	for l := range strings.SplitSeq(corefile, "\n") {
		l, _, _ = strings.Cut(l, "#")
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "srvhealth"):
			in = true
		case in && l == "}":
			return out
		}
		if in && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkClusterCorefile checks a Corefile meant for a cluster: CoreDNS's parser and srvhealth's setup accept
// it, and its srvhealth block does not mark healthy XMPP pods down. Under cluster DNS the service domain of
// _xmpp-client._tcp.prosody.voip.svc.cluster.local is prosody.voip.svc.cluster.local, which no XMPP server
// hosts (issue 24 item 2): every XMPP service must have a probe that names no domain.
func checkClusterCorefile(t *testing.T, where, corefile string, want ...string) {
	t.Helper()
	blocks, err := caddyfile.Parse("Corefile", strings.NewReader(corefile), srvhealth.DirectiveOrder(dnsserver.Directives))
	if err != nil {
		t.Fatalf("%s: Corefile: %v\n%s", where, err, corefile)
	}
	if len(blocks) != 1 {
		t.Fatalf("%s: server blocks %+v", where, blocks)
	}
	for _, w := range append([]string{"srvhealth", "kubernetes", "health", "ready", "prometheus", "reload"}, want...) {
		if _, ok := blocks[0].Tokens[w]; !ok {
			t.Errorf("%s: Corefile lacks %s:\n%s", where, w, corefile)
		}
	}
	setup, err := caddy.DirectiveAction("dns", "srvhealth")
	if err != nil {
		t.Fatal(err)
	}
	props := srvhealthProperties(corefile)
	if err := setup(caddy.NewTestController("dns", strings.Join(props, "\n")+"\n}")); err != nil {
		t.Errorf("%s: srvhealth refuses the block: %v\n%s", where, err, strings.Join(props, "\n"))
	}
	var services []string
	probes := map[string]string{}
	for _, p := range props {
		f := strings.Fields(p)
		switch f[0] {
		case "services":
			services = f[1:]
		case "probe":
			probes[f[1]] = f[2]
		}
	}
	for _, s := range services {
		if strings.HasPrefix(s, "_xmpp") && probes[s] != "tcp" && probes[s] != "none" {
			t.Errorf("%s: %s is probed with %q: the XMPP probe names prosody.voip.svc.cluster.local, which the server answers with host-unknown", where, s, cmp.Or(probes[s], "xmpp"))
		}
	}
}

// TestDeployHelmValues checks deploy/helm's values for both install paths against the chart's values
// structure, renders their Corefiles as the chart does and has CoreDNS and srvhealth accept them, and
// checks the settings a cluster's DNS needs (issue 24 items 1-4). TestDeployHelmTemplate renders the
// chart itself where helm is installed.
func TestDeployHelmValues(t *testing.T) {
	var blocks [][]string
	for _, path := range []string{"beside", "replace"} {
		v := readHelmValues(t, helmPaths[path])
		corefile := chartCorefile(v)
		want := []string{}
		if path == "replace" {
			want = []string{"forward", "cache", "loop"}
		}
		checkClusterCorefile(t, path, corefile, want...)
		blocks = append(blocks, srvhealthProperties(corefile))

		if v.Image.Tag == "" || v.Image.Tag == "latest" || !strings.Contains(strings.Split(v.Image.Repository, "/")[0], ".") {
			t.Errorf("%s: image %s:%s: want a registry host and a pinned tag", path, v.Image.Repository, v.Image.Tag)
		}
		if v.ReplicaCount < 2 || v.PodDisruptionBudget["maxUnavailable"] != float64(1) || v.Affinity == nil || len(v.TopologySpread) == 0 {
			t.Errorf("%s: replicas %d, disruption budget %v, affinity %v, spread %v", path, v.ReplicaCount, v.PodDisruptionBudget, v.Affinity, v.TopologySpread)
		}
		if v.PriorityClassName != "system-cluster-critical" || !slices.ContainsFunc(v.Tolerations, func(t map[string]string) bool {
			return t["key"] == "CriticalAddonsOnly" && t["operator"] == "Exists"
		}) {
			t.Errorf("%s: priority class %q, tolerations %v", path, v.PriorityClassName, v.Tolerations)
		}
		if !v.ServiceAccount.Create {
			t.Errorf("%s: serviceAccount.create is false: the chart binds its ClusterRole to the namespace's default account", path)
		}
		if !v.Prometheus.Service.Enabled || len(v.Prometheus.Monitor.AdditionalLabels) == 0 {
			t.Errorf("%s: metrics Service %v, ServiceMonitor labels %v", path, v.Prometheus.Service.Enabled, v.Prometheus.Monitor.AdditionalLabels)
		}
		if !v.PodSecurityContext.RunAsNonRoot || v.PodSecurityContext.SeccompProfile["type"] != "RuntimeDefault" {
			t.Errorf("%s: podSecurityContext %+v: restricted Pod Security wants runAsNonRoot and RuntimeDefault", path, v.PodSecurityContext)
		}
		if !slices.Equal(v.SecurityContext.Capabilities.Add, []string{"NET_BIND_SERVICE"}) || !slices.Equal(v.SecurityContext.Capabilities.Drop, []string{"ALL"}) ||
			!v.SecurityContext.ReadOnlyRootFilesystem || v.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: securityContext %+v", path, v.SecurityContext)
		}
	}

	manifests, err := os.ReadFile("deploy/kubernetes/coredns-srvhealth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	blocks = append(blocks, srvhealthProperties(string(manifests)))
	for i, b := range blocks[1:] {
		if !slices.Equal(blocks[0], b) {
			t.Errorf("srvhealth block %d differs from beside.yaml's:\n%s\nvs\n%s", i+1, strings.Join(b, "\n"), strings.Join(blocks[0], "\n"))
		}
	}
	v := readHelmValues(t, helmPaths["replace"])
	if image := v.Image.Repository + ":" + v.Image.Tag; !strings.Contains(string(manifests), "image: "+image+"\n") {
		t.Errorf("image %s is not the Kubernetes manifests' image", image)
	}

	// The setup reached through the directive is the one that refuses mistakes.
	setup, err := caddy.DirectiveAction("dns", "srvhealth")
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(caddy.NewTestController("dns", "srvhealth cluster.local {\n interval soon\n}")); err == nil {
		t.Error("srvhealth's setup accepts interval soon")
	}
}

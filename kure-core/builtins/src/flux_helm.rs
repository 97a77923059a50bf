//! `FluxHelm`: a Flux source and a HelmRelease for one Helm chart.
//! Modelled on Kure's Go generator of the same name.

use kure_plugin_api::sdk::prelude::*;
use kure_plugin_api::sdk::{name_problem, NameRule};
use serde_json::Map;

use super::GROUP_VERSION;

/// Installs a Helm chart with Flux: a source (HelmRepository, GitRepository, OCIRepository or
/// Bucket; `source.toolkit.fluxcd.io/v1`) unless skipped, and a HelmRelease
/// (`helm.toolkit.fluxcd.io/v2`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FluxHelmConfig {
    /// The chart, by name and version, from `source`. Exactly one of `chart` and `chartRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
    /// A reference to an existing OCIRepository or HelmChart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<ChartRef>,
    /// Where the chart comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Helm values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Value>,
    /// Values from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    /// Install and upgrade behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Namespace the chart is installed into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Helm release name. Default: the app name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Reconcile interval. Default `10m`.
    #[serde(default = "ten_minutes")]
    pub interval: String,
    /// Timeout of Helm actions, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// HelmReleases that must be ready first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Suspend reconciliation.
    #[serde(default)]
    pub suspend: bool,
    /// Service account used for Helm actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

fn ten_minutes() -> String {
    "10m".to_owned()
}

/// A chart name and version.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chart {
    /// Chart name (for GitRepository and Bucket sources: the path to the chart).
    pub name: String,
    /// Version or semver range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A reference to a chart object.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartRef {
    /// `OCIRepository` or `HelmChart`.
    pub kind: ChartRefKind,
    /// Object name.
    pub name: String,
    /// Object namespace. Default: the app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds a `chartRef` can point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ChartRefKind {
    /// An OCIRepository holding the chart.
    OCIRepository,
    /// A HelmChart object.
    HelmChart,
}

/// Flux source kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SourceType {
    /// A Helm repository (HTTP or `oci://`).
    HelmRepository,
    /// A Git repository holding the chart.
    GitRepository,
    /// An OCI artifact holding the chart.
    OCIRepository,
    /// An S3-compatible bucket.
    Bucket,
}

/// Where the chart comes from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// Source kind.
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// HelmRepository URL (`https://` or `oci://`), or Bucket endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// OCIRepository URL (`oci://...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_url: Option<String>,
    /// GitRepository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_url: Option<String>,
    /// Git branch, tag (`tag:v1`), semver (`semver:>=1.0`) or commit (`commit:SHA`). Default branch `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Bucket name (Bucket sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// Source reconcile interval. Default: the release interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Name of the source object. Default: the app name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    /// Secret with credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// Do not generate the source object (it exists already, named `refName`).
    #[serde(default)]
    pub skip_generation: bool,
}

/// Values from a ConfigMap or Secret.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// Object name.
    pub name: String,
    /// Key holding the values. Default `values.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// Path at which to merge a single value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// Do not fail when the object is missing.
    #[serde(default)]
    pub optional: bool,
}

/// Kinds values can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ValuesKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

/// Install and upgrade behaviour.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Release {
    /// Create the target namespace on install.
    #[serde(default)]
    pub create_namespace: bool,
    /// Install options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Action>,
    /// Upgrade options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Action>,
}

/// Options of a Helm action.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Action {
    /// Retries before remediation gives up (-1 for unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub remediation_retries: Option<i64>,
    /// Remediate the last failure when retries are exhausted (upgrade only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// CRD policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<CrdPolicy>,
}

/// What Helm does with the chart's CRDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum CrdPolicy {
    /// Leave CRDs alone.
    Skip,
    /// Create missing CRDs.
    Create,
    /// Create and replace CRDs.
    CreateReplace,
}

/// A HelmRelease this one waits for.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dependency {
    /// Its name.
    pub name: String,
    /// Its namespace. Default: the app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The FluxHelm generator.
#[derive(Debug, Default)]
pub struct FluxHelm;

fn duration_ok(d: &str) -> bool {
    // Go durations: one or more <number><unit>, units ms, s, m, h.
    let mut rest = d;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let unit = ["ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

impl FluxHelmConfig {
    fn check(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let mut push = |path: &str, message: String| {
            issues.push(Issue {
                path: path.to_owned(),
                message,
            })
        };
        // Every name emitted into an object must be one Kubernetes accepts.
        let mut name = |path: &str, what: &str, value: Option<&String>, rule: NameRule| {
            if let Some(problem) = value.and_then(|v| name_problem(what, v, rule)) {
                push(path, problem);
            }
        };
        if let Some(s) = &self.source {
            name(
                "source.refName",
                "source object name",
                s.ref_name.as_ref(),
                NameRule::Subdomain,
            );
            name(
                "source.secretRef",
                "Secret name",
                s.secret_ref.as_ref(),
                NameRule::Subdomain,
            );
        }
        if let Some(c) = &self.chart_ref {
            name(
                "chartRef.name",
                "object name",
                Some(&c.name),
                NameRule::Subdomain,
            );
            name(
                "chartRef.namespace",
                "namespace",
                c.namespace.as_ref(),
                NameRule::Label,
            );
        }
        for (i, v) in self.values_from.iter().enumerate() {
            name(
                &format!("valuesFrom[{i}].name"),
                "object name",
                Some(&v.name),
                NameRule::Subdomain,
            );
        }
        for (i, d) in self.depends_on.iter().enumerate() {
            name(
                &format!("dependsOn[{i}].name"),
                "HelmRelease name",
                Some(&d.name),
                NameRule::Subdomain,
            );
            name(
                &format!("dependsOn[{i}].namespace"),
                "namespace",
                d.namespace.as_ref(),
                NameRule::Label,
            );
        }
        name(
            "targetNamespace",
            "namespace",
            self.target_namespace.as_ref(),
            NameRule::Label,
        );
        name(
            "serviceAccount",
            "service account name",
            self.service_account.as_ref(),
            NameRule::Subdomain,
        );
        name(
            "releaseName",
            "Helm release name",
            self.release_name.as_ref(),
            NameRule::Subdomain,
        );
        if self.release_name.as_ref().is_some_and(|r| r.len() > 53) {
            push(
                "releaseName",
                "a Helm release name has at most 53 characters".into(),
            );
        }
        match (&self.chart, &self.chart_ref) {
            (None, None) => push(
                "chart",
                "set `chart` (name and version from `source`) or `chartRef`".into(),
            ),
            (Some(_), Some(_)) => push(
                "chartRef",
                "set either `chart` or `chartRef`, not both".into(),
            ),
            _ => {}
        }
        if self.chart.is_some() && self.source.is_none() {
            push(
                "source",
                "`chart` needs a `source` saying where the chart comes from".into(),
            );
        }
        if let Some(s) = &self.source {
            let need = |field: Option<&String>, name: &str, push: &mut dyn FnMut(&str, String)| {
                if field.is_none_or(|f| f.is_empty()) && !s.skip_generation {
                    push(
                        &format!("source.{name}"),
                        format!("a {:?} source needs `{name}`", s.kind),
                    );
                }
            };
            match s.kind {
                SourceType::HelmRepository => need(s.url.as_ref(), "url", &mut push),
                SourceType::GitRepository => need(s.git_url.as_ref(), "gitUrl", &mut push),
                SourceType::OCIRepository => need(s.oci_url.as_ref(), "ociUrl", &mut push),
                SourceType::Bucket => {
                    need(s.bucket_name.as_ref(), "bucketName", &mut push);
                    need(s.url.as_ref(), "url", &mut push);
                }
            }
            if s.skip_generation && s.ref_name.is_none() {
                push(
                    "source.refName",
                    "with `skipGeneration`, name the existing source in `refName`".into(),
                );
            }
            if let Some(u) = &s.oci_url {
                if !u.starts_with("oci://") {
                    push("source.ociUrl", format!("`{u}` must start with oci://"));
                }
            }
            if let Some(i) = &s.interval {
                if !duration_ok(i) {
                    push(
                        "source.interval",
                        format!("`{i}` is not a duration such as `5m` or `1h30m`"),
                    );
                }
            }
        }
        if !duration_ok(&self.interval) {
            push(
                "interval",
                format!(
                    "`{}` is not a duration such as `10m` or `1h`",
                    self.interval
                ),
            );
        }
        if let Some(t) = &self.timeout {
            if !duration_ok(t) {
                push("timeout", format!("`{t}` is not a duration such as `5m`"));
            }
        }
        if let Some(v) = &self.values {
            if !v.is_object() {
                push("values", "values must be a mapping".into());
            }
        }
        issues
    }
}

fn git_ref(r: Option<&str>) -> Value {
    match r.and_then(|r| r.split_once(':')) {
        Some(("tag", t)) => json!({ "tag": t }),
        Some(("semver", s)) => json!({ "semver": s }),
        Some(("commit", c)) => json!({ "commit": c }),
        Some(("branch", b)) => json!({ "branch": b }),
        _ => json!({ "branch": r.unwrap_or("main") }),
    }
}

fn insert_opt(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.to_owned(), v);
    }
}

impl Generator for FluxHelm {
    type Config = FluxHelmConfig;
    const API_VERSION: &'static str = GROUP_VERSION;
    const KIND: &'static str = "FluxHelm";

    fn validate(&self, config: &FluxHelmConfig) -> Result<(), Error> {
        let issues = config.check();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::issues(issues))
        }
    }

    fn generate(&self, app: &Application<FluxHelmConfig>) -> Result<Vec<Object>, Error> {
        let spec = &app.spec;
        let name = app.metadata.name.as_str();
        let mut out = Vec::with_capacity(2);
        let source_name = spec
            .source
            .as_ref()
            .and_then(|s| s.ref_name.clone())
            .unwrap_or_else(|| name.to_owned());

        if let Some(s) = spec.source.as_ref().filter(|s| !s.skip_generation) {
            let interval = s.interval.clone().unwrap_or_else(|| spec.interval.clone());
            let mut src = Map::new();
            src.insert("interval".into(), json!(interval));
            let kind = match s.kind {
                SourceType::HelmRepository => {
                    let url = s.url.clone().unwrap_or_default();
                    if url.starts_with("oci://") {
                        src.insert("type".into(), json!("oci"));
                    }
                    src.insert("url".into(), json!(url));
                    "HelmRepository"
                }
                SourceType::GitRepository => {
                    src.insert("url".into(), json!(s.git_url));
                    src.insert("ref".into(), git_ref(s.git_ref.as_deref()));
                    "GitRepository"
                }
                SourceType::OCIRepository => {
                    src.insert("url".into(), json!(s.oci_url));
                    let version = spec
                        .chart
                        .as_ref()
                        .and_then(|c| c.version.clone())
                        .unwrap_or_else(|| "latest".into());
                    src.insert("ref".into(), oci_ref(&version));
                    "OCIRepository"
                }
                SourceType::Bucket => {
                    src.insert("bucketName".into(), json!(s.bucket_name));
                    src.insert("endpoint".into(), json!(s.url));
                    "Bucket"
                }
            };
            insert_opt(
                &mut src,
                "secretRef",
                s.secret_ref.as_ref().map(|r| json!({ "name": r })),
            );
            out.push(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": kind,
                "metadata": app.child_metadata(&source_name),
                "spec": src,
            }));
        }

        let mut hr = Map::new();
        hr.insert("interval".into(), json!(spec.interval));
        let oci_source = spec
            .source
            .as_ref()
            .is_some_and(|s| s.kind == SourceType::OCIRepository);
        if let Some(r) = &spec.chart_ref {
            let mut cr = Map::new();
            cr.insert("kind".into(), json!(r.kind));
            cr.insert("name".into(), json!(r.name));
            insert_opt(&mut cr, "namespace", r.namespace.as_ref().map(|n| json!(n)));
            hr.insert("chartRef".into(), Value::Object(cr));
        } else if oci_source {
            hr.insert(
                "chartRef".into(),
                json!({ "kind": "OCIRepository", "name": source_name }),
            );
        } else if let (Some(chart), Some(s)) = (&spec.chart, &spec.source) {
            let mut cs = Map::new();
            cs.insert("chart".into(), json!(chart.name));
            insert_opt(&mut cs, "version", chart.version.as_ref().map(|v| json!(v)));
            cs.insert(
                "sourceRef".into(),
                json!({ "kind": format!("{:?}", s.kind), "name": source_name }),
            );
            cs.insert(
                "interval".into(),
                json!(s.interval.clone().unwrap_or_else(|| spec.interval.clone())),
            );
            hr.insert("chart".into(), json!({ "spec": cs }));
        }
        insert_opt(&mut hr, "values", spec.values.clone());
        if !spec.values_from.is_empty() {
            hr.insert(
                "valuesFrom".into(),
                serde_json::to_value(&spec.values_from)?,
            );
        }
        if let Some(r) = &spec.release {
            let action = |a: &Option<Action>, upgrade: bool, create_ns: bool| -> Option<Value> {
                let mut m = Map::new();
                if create_ns {
                    m.insert("createNamespace".into(), json!(true));
                }
                if let Some(a) = a {
                    let mut rem = Map::new();
                    insert_opt(&mut rem, "retries", a.remediation_retries.map(|r| json!(r)));
                    if upgrade {
                        insert_opt(
                            &mut rem,
                            "remediateLastFailure",
                            a.remediate_last_failure.map(|b| json!(b)),
                        );
                    }
                    if !rem.is_empty() {
                        m.insert("remediation".into(), Value::Object(rem));
                    }
                    insert_opt(&mut m, "crds", a.crds.map(|c| json!(c)));
                }
                (!m.is_empty()).then_some(Value::Object(m))
            };
            insert_opt(
                &mut hr,
                "install",
                action(&r.install, false, r.create_namespace),
            );
            insert_opt(&mut hr, "upgrade", action(&r.upgrade, true, false));
        }
        insert_opt(
            &mut hr,
            "targetNamespace",
            spec.target_namespace.as_ref().map(|v| json!(v)),
        );
        insert_opt(
            &mut hr,
            "releaseName",
            spec.release_name.as_ref().map(|v| json!(v)),
        );
        insert_opt(&mut hr, "timeout", spec.timeout.as_ref().map(|v| json!(v)));
        if !spec.depends_on.is_empty() {
            hr.insert("dependsOn".into(), serde_json::to_value(&spec.depends_on)?);
        }
        if spec.suspend {
            hr.insert("suspend".into(), json!(true));
        }
        insert_opt(
            &mut hr,
            "serviceAccountName",
            spec.service_account.as_ref().map(|v| json!(v)),
        );
        out.push(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": app.child_metadata(name),
            "spec": hr,
        }));
        Ok(out)
    }

    fn documentation(&self) -> Documentation {
        Documentation {
            documentation: "Installs a Helm chart through Flux: generates the chart's source \
                            (`source.toolkit.fluxcd.io/v1` HelmRepository, GitRepository, OCIRepository \
                            or Bucket) unless `source.skipGeneration` is set, and a HelmRelease \
                            (`helm.toolkit.fluxcd.io/v2`) with the values, remediation and dependencies given."
                .to_owned(),
            examples: vec![
                Example::new("helm-repository", "ingress-nginx from its Helm repository", include_str!("../../../examples/ingress-nginx.yaml")),
                Example::new("oci", "podinfo from an OCI registry", include_str!("../../../examples/podinfo.yaml")),
            ],
            usage_guide: "Name the chart (`chart.name`, `chart.version`) and its `source` (type and URL), \
                          or point `chartRef` at an existing OCIRepository/HelmChart. Put Helm values under \
                          `values`. The release reconciles every `interval` (default 10m)."
                .to_owned(),
        }
    }
}

/// An OCIRepository's `ref` for a chart version: a version (or any other tag, `latest`) is
/// `tag`; a range (`6.*`, `^6.0.0`, `>=6.1 <7`) is `semver`, which Flux resolves to the
/// highest matching tag.
fn oci_ref(version: &str) -> Value {
    let operator = version
        .chars()
        .any(|c| matches!(c, '*' | '^' | '~' | '>' | '<' | '=' | ',' | '|' | ' '));
    let wildcard = version
        .split('.')
        .skip(1)
        .any(|part| matches!(part, "x" | "X" | "*"));
    let is_range = (operator || wildcard) && !version.contains(['/', ':', '@']);
    if is_range {
        json!({ "semver": version })
    } else {
        json!({ "tag": version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 30: a range became `ref.tag`, which no registry has; a version stays a tag.
    #[test]
    fn oci_versions_and_ranges() {
        for range in ["6.*", "^6.0.0", "~6.7", ">=6.1.0 <7.0.0", "6.x", ">=6.0.0"] {
            assert_eq!(oci_ref(range), json!({ "semver": range }), "{range}");
        }
        for tag in [
            "6.7.1",
            "latest",
            "v6.7.1",
            "6.7.1-rc.1",
            "sha-1a2b3c",
            "box-1.0",
        ] {
            assert_eq!(oci_ref(tag), json!({ "tag": tag }), "{tag}");
        }
    }

    #[test]
    fn durations() {
        for ok in ["10m", "1h30m", "500ms", "1.5h"] {
            assert!(duration_ok(ok), "{ok}");
        }
        for bad in ["", "10", "m", "10 minutes", "5d"] {
            assert!(!duration_ok(bad), "{bad}");
        }
    }
}

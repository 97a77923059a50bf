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
    /// HelmReleases that must be ready first: names (the Go Kure's form) or
    /// `{name, namespace}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Suspend reconciliation.
    #[serde(default)]
    pub suspend: bool,
    /// Service account used for Helm actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Helm release revisions kept (0: unlimited). Default: Flux's (5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_history: Option<i64>,
    /// kustomize patches and image changes applied to what the chart renders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderers: Vec<PostRenderer>,
    /// Whether Flux corrects changes made to the release's objects in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detection: Option<DriftDetection>,
    /// The chart version (the Go Kure's place for it, which it ignored; `chart.version` is
    /// the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Drift detection and correction.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftDetection {
    /// `enabled` (correct drift), `warn` (report it) or `disabled` (Flux's default).
    pub mode: DriftMode,
    /// Fields whose changes are not drift, e.g. `/spec/replicas` under an autoscaler.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<DriftIgnore>,
}

/// Drift detection modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Detect and correct.
    Enabled,
    /// Detect and report.
    Warn,
    /// Neither.
    Disabled,
}

/// Paths to leave alone, on the objects `target` selects (default: every object).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftIgnore {
    /// JSON pointers, e.g. `/spec/replicas`.
    #[schemars(length(min = 1))]
    pub paths: Vec<String>,
    /// The objects they apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PatchTarget>,
}

/// A post-renderer.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostRenderer {
    /// kustomize patches and images.
    pub kustomize: KustomizePostRenderer,
}

/// What kustomize changes in the rendered chart.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KustomizePostRenderer {
    /// Strategic merge or JSON 6902 patches, each on the objects `target` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<KustomizePatch>,
    /// Image names, tags and digests to replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<KustomizeImage>,
}

/// One patch.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KustomizePatch {
    /// The patch, as YAML text.
    pub patch: String,
    /// The objects it applies to. Default: those the patch names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PatchTarget>,
}

/// Which objects a patch applies to.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchTarget {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (a regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace (a regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A label selector, e.g. `app=web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// An annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// An image to replace.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KustomizeImage {
    /// The image name in the chart.
    pub name: String,
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// A new tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// A digest (`sha256:...`), instead of a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
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
    /// Source kind. Default: from the URL given (`ociUrl`: OCIRepository, `gitUrl`:
    /// GitRepository, `bucketName`: Bucket, `url`: HelmRepository).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceType>,
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
    /// Bucket endpoint, e.g. `s3.amazonaws.com` (Bucket sources; `url` is the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bucket region (Bucket sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The chart's path in a Git repository or bucket (`chart.name` is the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_path: Option<String>,
    /// Cloud credentials from the controller's identity: `aws`, `azure`, `gcp` or `generic`
    /// (OCI, OCI Helm repositories and buckets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Plain HTTP to the registry or bucket endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Verify the OCI artifact's signature (OCIRepository sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
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

/// Cloud identity providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
    /// No cloud identity (the default).
    Generic,
}

/// Signature verification of an OCI artifact.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Verify {
    /// `cosign` or `notation`.
    pub provider: VerifyProvider,
    /// A Secret with the public keys (cosign keyless without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
}

/// Signature verifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyProvider {
    /// Sigstore cosign.
    Cosign,
    /// Notary Project notation.
    Notation,
}

impl Source {
    /// The source kind, given or told by the URL field set.
    pub fn kind(&self) -> Option<SourceType> {
        self.kind.or(if self.oci_url.is_some() {
            Some(SourceType::OCIRepository)
        } else if self.git_url.is_some() {
            Some(SourceType::GitRepository)
        } else if self.bucket_name.is_some() {
            Some(SourceType::Bucket)
        } else if self.url.is_some() {
            Some(SourceType::HelmRepository)
        } else {
            None
        })
    }
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

/// Install and upgrade behaviour. The flags beside `install` and `upgrade` are the Go Kure's
/// form: `disableWait` and the other `disable*` apply to both actions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Release {
    /// Create the target namespace on install.
    #[serde(default)]
    pub create_namespace: bool,
    /// Do not wait for the resources to be ready (install and upgrade).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete (install and upgrade).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Skip the chart's hooks (install and upgrade).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Do not validate the rendered objects against the cluster's OpenAPI schema.
    #[serde(
        default,
        rename = "disableOpenAPIValidation",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disable_openapi_validation: bool,
    /// Reset values to the chart's defaults on upgrade (what Flux does unless
    /// `preserveValues`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset_values: bool,
    /// Replace objects that cannot be patched on upgrade (`helm upgrade --force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_upgrade: bool,
    /// Keep the values of the last release on upgrade.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_values: bool,
    /// Delete the objects an upgrade created when it fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    /// Reuse the name of a deleted release on install.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// CRD policy on install (also `install.crds`).
    #[serde(
        default,
        rename = "installCRDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub install_crds: Option<CrdPolicy>,
    /// CRD policy on upgrade (also `upgrade.crds`).
    #[serde(
        default,
        rename = "upgradeCRDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub upgrade_crds: Option<CrdPolicy>,
    /// What to do when an install fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_remediation: Option<Remediation>,
    /// What to do when an upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_remediation: Option<Remediation>,
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

/// Remediation of a failed Helm action.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Remediation {
    /// Retries before giving up (-1: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub retries: Option<i64>,
    /// Do not remediate when only the chart's tests fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// Remediate the last failure too, when no retries remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// `rollback` (default) or `uninstall` (upgrade only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RemediationStrategy>,
}

/// How a failed upgrade is remediated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemediationStrategy {
    /// Roll back to the last good release.
    Rollback,
    /// Uninstall the release.
    Uninstall,
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

/// A HelmRelease this one waits for: its name, or its name and namespace.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum DependsOn {
    /// A HelmRelease in the app's namespace.
    Name(String),
    /// A HelmRelease, anywhere.
    Release(Dependency),
}

impl DependsOn {
    /// As Flux writes it.
    pub fn dependency(&self) -> Dependency {
        match self {
            DependsOn::Name(n) => Dependency {
                name: n.clone(),
                namespace: None,
            },
            DependsOn::Release(d) => d.clone(),
        }
    }
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
            name(
                "source.verify.secretRef",
                "Secret name",
                s.verify.as_ref().and_then(|v| v.secret_ref.as_ref()),
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
            let string = matches!(d, DependsOn::Name(_));
            let d = d.dependency();
            name(
                &if string {
                    format!("dependsOn[{i}]")
                } else {
                    format!("dependsOn[{i}].name")
                },
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
            let kind = s.kind();
            let need = |field: Option<&String>, name: &str, push: &mut dyn FnMut(&str, String)| {
                if field.is_none_or(|f| f.is_empty()) && !s.skip_generation {
                    push(
                        &format!("source.{name}"),
                        format!("a {kind:?} source needs `{name}`")
                            .replace("Some(", "")
                            .replace(')', ""),
                    );
                }
            };
            match kind {
                None => push(
                    "source.type",
                    "set `type` (HelmRepository, GitRepository, OCIRepository or Bucket) or the URL that tells it (`url`, `gitUrl`, `ociUrl`, `bucketName`)".into(),
                ),
                Some(SourceType::HelmRepository) => need(s.url.as_ref(), "url", &mut push),
                Some(SourceType::GitRepository) => need(s.git_url.as_ref(), "gitUrl", &mut push),
                Some(SourceType::OCIRepository) => need(s.oci_url.as_ref(), "ociUrl", &mut push),
                Some(SourceType::Bucket) => {
                    need(s.bucket_name.as_ref(), "bucketName", &mut push);
                    need(s.url.as_ref().or(s.endpoint.as_ref()), "endpoint", &mut push);
                    if s.url.is_some() && s.endpoint.is_some() {
                        push("source.endpoint", "give the bucket endpoint once: `endpoint` or `url`".into());
                    }
                }
            }
            let only = |given: bool,
                        field: &str,
                        kinds: &[SourceType],
                        push: &mut dyn FnMut(&str, String)| {
                if given && !kind.is_some_and(|k| kinds.contains(&k)) {
                    push(
                        &format!("source.{field}"),
                        format!(
                            "`{field}` is for {} sources",
                            kinds
                                .iter()
                                .map(|k| format!("{k:?}"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ),
                    );
                }
            };
            only(
                s.region.is_some(),
                "region",
                &[SourceType::Bucket],
                &mut push,
            );
            only(
                s.git_path.is_some(),
                "gitPath",
                &[SourceType::GitRepository, SourceType::Bucket],
                &mut push,
            );
            only(
                s.verify.is_some(),
                "verify",
                &[SourceType::OCIRepository],
                &mut push,
            );
            only(
                s.provider.is_some(),
                "provider",
                &[
                    SourceType::OCIRepository,
                    SourceType::HelmRepository,
                    SourceType::Bucket,
                ],
                &mut push,
            );
            if let (Some(p), Some(c)) = (&s.git_path, &self.chart) {
                if &c.name != p {
                    push("source.gitPath", format!("the chart's path is given twice: `gitPath: {p}` and `chart.name: {}`; keep one", c.name));
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
        if let (Some(v), Some(c)) = (&self.version, &self.chart) {
            if c.version.as_ref().is_some_and(|cv| cv != v) {
                push(
                    "version",
                    "the chart version is given twice, differently: keep `chart.version`".into(),
                );
            }
        }
        if let Some(r) = &self.release {
            let twice = |flat: bool,
                         nested: bool,
                         flat_name: &str,
                         nested_name: &str,
                         push: &mut dyn FnMut(&str, String)| {
                if flat && nested {
                    push(&format!("release.{flat_name}"), format!("given twice: `release.{flat_name}` and `release.{nested_name}`; keep one"));
                }
            };
            let crds = |a: &Option<Action>| a.as_ref().is_some_and(|a| a.crds.is_some());
            let retries = |a: &Option<Action>| {
                a.as_ref().is_some_and(|a| {
                    a.remediation_retries.is_some() || a.remediate_last_failure.is_some()
                })
            };
            twice(
                r.install_crds.is_some(),
                crds(&r.install),
                "installCRDs",
                "install.crds",
                &mut push,
            );
            twice(
                r.upgrade_crds.is_some(),
                crds(&r.upgrade),
                "upgradeCRDs",
                "upgrade.crds",
                &mut push,
            );
            twice(
                r.install_remediation.is_some(),
                retries(&r.install),
                "installRemediation",
                "install.remediationRetries",
                &mut push,
            );
            twice(
                r.upgrade_remediation.is_some(),
                retries(&r.upgrade),
                "upgradeRemediation",
                "upgrade.remediationRetries",
                &mut push,
            );
            if r.install_remediation
                .as_ref()
                .is_some_and(|m| m.strategy.is_some())
            {
                push("release.installRemediation.strategy", "a failed install is always uninstalled: `strategy` is for `upgradeRemediation`".into());
            }
            if r.reset_values && r.preserve_values {
                push(
                    "release.resetValues",
                    "`resetValues` and `preserveValues` contradict each other; keep one".into(),
                );
            }
        }
        if let Some(d) = &self.drift_detection {
            for (i, ig) in d.ignore.iter().enumerate() {
                for (j, p) in ig.paths.iter().enumerate() {
                    if !p.starts_with('/') {
                        push(
                            &format!("driftDetection.ignore[{i}].paths[{j}]"),
                            format!("`{p}` is not a JSON pointer such as `/spec/replicas`"),
                        );
                    }
                }
            }
        }
        for (i, p) in self.post_renderers.iter().enumerate() {
            if p.kustomize.patches.is_empty() && p.kustomize.images.is_empty() {
                push(
                    &format!("postRenderers[{i}].kustomize"),
                    "give `patches` or `images`".into(),
                );
            }
            for (j, img) in p.kustomize.images.iter().enumerate() {
                if img.new_name.is_none() && img.new_tag.is_none() && img.digest.is_none() {
                    push(
                        &format!("postRenderers[{i}].kustomize.images[{j}]"),
                        "give `newName`, `newTag` or `digest`".into(),
                    );
                }
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

/// The HelmRelease's `install` (or `upgrade`) block: the nested options and the Go Kure's
/// flat flags, which `check` keeps from saying one thing twice.
fn release_action(r: &Release, upgrade: bool) -> Option<Value> {
    let mut m = Map::new();
    let flag = |m: &mut Map<String, Value>, key: &str, on: bool| {
        if on {
            m.insert(key.to_owned(), json!(true));
        }
    };
    let (nested, crds, remediation) = if upgrade {
        (&r.upgrade, r.upgrade_crds, &r.upgrade_remediation)
    } else {
        (&r.install, r.install_crds, &r.install_remediation)
    };
    if upgrade {
        flag(&mut m, "force", r.force_upgrade);
        flag(&mut m, "preserveValues", r.preserve_values);
        flag(&mut m, "cleanupOnFail", r.cleanup_on_fail);
    } else {
        flag(&mut m, "createNamespace", r.create_namespace);
        flag(&mut m, "replace", r.replace);
    }
    flag(&mut m, "disableWait", r.disable_wait);
    flag(&mut m, "disableWaitForJobs", r.disable_wait_for_jobs);
    flag(&mut m, "disableHooks", r.disable_hooks);
    flag(
        &mut m,
        "disableOpenAPIValidation",
        r.disable_openapi_validation,
    );
    let mut rem = Map::new();
    if let Some(a) = nested {
        insert_opt(&mut rem, "retries", a.remediation_retries.map(|r| json!(r)));
        if upgrade {
            insert_opt(
                &mut rem,
                "remediateLastFailure",
                a.remediate_last_failure.map(|b| json!(b)),
            );
        }
    }
    if let Some(g) = remediation {
        insert_opt(&mut rem, "retries", g.retries.map(|r| json!(r)));
        insert_opt(
            &mut rem,
            "ignoreTestFailures",
            g.ignore_test_failures.map(|b| json!(b)),
        );
        insert_opt(
            &mut rem,
            "remediateLastFailure",
            g.remediate_last_failure.map(|b| json!(b)),
        );
        if upgrade {
            insert_opt(&mut rem, "strategy", g.strategy.map(|s| json!(s)));
        }
    }
    if !rem.is_empty() {
        m.insert("remediation".into(), Value::Object(rem));
    }
    insert_opt(
        &mut m,
        "crds",
        nested
            .as_ref()
            .and_then(|a| a.crds)
            .or(crds)
            .map(|c| json!(c)),
    );
    (!m.is_empty()).then_some(Value::Object(m))
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
            let kind = match s.kind().unwrap_or(SourceType::HelmRepository) {
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
                        .or_else(|| spec.version.clone())
                        .unwrap_or_else(|| "latest".into());
                    src.insert("ref".into(), oci_ref(&version));
                    "OCIRepository"
                }
                SourceType::Bucket => {
                    src.insert("bucketName".into(), json!(s.bucket_name));
                    src.insert(
                        "endpoint".into(),
                        json!(s.url.as_ref().or(s.endpoint.as_ref())),
                    );
                    insert_opt(&mut src, "region", s.region.as_ref().map(|r| json!(r)));
                    "Bucket"
                }
            };
            insert_opt(&mut src, "provider", s.provider.map(|p| json!(p)));
            if s.insecure {
                src.insert("insecure".into(), json!(true));
            }
            insert_opt(
                &mut src,
                "verify",
                s.verify.as_ref().map(|v| {
                    let mut m = Map::new();
                    m.insert("provider".into(), json!(v.provider));
                    insert_opt(
                        &mut m,
                        "secretRef",
                        v.secret_ref.as_ref().map(|r| json!({ "name": r })),
                    );
                    Value::Object(m)
                }),
            );
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
            .is_some_and(|s| s.kind() == Some(SourceType::OCIRepository));
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
            cs.insert(
                "chart".into(),
                json!(s.git_path.as_ref().unwrap_or(&chart.name)),
            );
            insert_opt(
                &mut cs,
                "version",
                chart
                    .version
                    .as_ref()
                    .or(spec.version.as_ref())
                    .map(|v| json!(v)),
            );
            cs.insert(
                "sourceRef".into(),
                json!({ "kind": format!("{:?}", s.kind().unwrap_or(SourceType::HelmRepository)), "name": source_name }),
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
            insert_opt(&mut hr, "install", release_action(r, false));
            insert_opt(&mut hr, "upgrade", release_action(r, true));
        }
        if let Some(h) = spec.max_history {
            hr.insert("maxHistory".into(), json!(h));
        }
        if let Some(d) = &spec.drift_detection {
            hr.insert("driftDetection".into(), serde_json::to_value(d)?);
        }
        if !spec.post_renderers.is_empty() {
            hr.insert(
                "postRenderers".into(),
                serde_json::to_value(&spec.post_renderers)?,
            );
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
            let deps: Vec<Dependency> = spec.depends_on.iter().map(DependsOn::dependency).collect();
            hr.insert("dependsOn".into(), serde_json::to_value(&deps)?);
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

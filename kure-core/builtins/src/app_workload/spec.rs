//! The `AppWorkload` spec: its fields (what `kure schema` and `kure explain` show, from these
//! types) and the checks the schema cannot express (`AppWorkloadConfig::check`).

use std::collections::{BTreeMap, BTreeSet};

use kure_plugin_api::sdk::is_dns_label;
use kure_plugin_api::sdk::prelude::*;
use kure_plugin_api::sdk::{name_problem, NameRule};

/// An application workload: a Deployment, StatefulSet or DaemonSet running one or more
/// containers, with a Service when any container has ports and an Ingress when `ingress` is set.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppWorkloadConfig {
    /// The kind of workload to create.
    pub workload: WorkloadKind,
    /// Pod replicas (Deployment and StatefulSet only). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// The containers of the pod; at least one.
    #[schemars(length(min = 1))]
    pub containers: Vec<Container>,
    /// Pod volumes, mounted by name in `containers[].volumeMounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Per-replica persistent volume claims (StatefulSet only), mountable by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<VolumeClaimTemplate>,
    /// Expose the app over HTTP(S) with an Ingress (TLS with the Secret `<name>-tls` unless `tls: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressConfig>,
}

/// Workload kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum WorkloadKind {
    /// A Deployment (stateless replicas).
    Deployment,
    /// A StatefulSet (stable identities, per-replica storage).
    StatefulSet,
    /// A DaemonSet (one pod per node).
    DaemonSet,
}

/// A container.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Container {
    /// Container name (DNS label).
    pub name: String,
    /// Image reference, e.g. `nginx:1.27`.
    pub image: String,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Ports; named ports are exposed by the Service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Volume mounts, by volume or claim template name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Resource requests and limits, e.g. `cpu: 100m`, `memory: 128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Startup probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Liveness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
}

/// A container port.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    /// Port name (at most 15 characters); required when the app has more than one port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Protocol. Default TCP.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Port protocols (the variant names are the Kubernetes wire values).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Protocol {
    /// TCP.
    #[default]
    TCP,
    /// UDP.
    UDP,
    /// SCTP.
    SCTP,
}

/// An environment variable: `value`, or `valueFrom` one source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value from a Secret, ConfigMap or pod field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvSource>,
}

/// Where an environment variable's value comes from: exactly one of the fields.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvSource {
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    /// A pod field, e.g. `metadata.namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

/// A key in a Secret or ConfigMap.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyRef {
    /// The Secret or ConfigMap name.
    pub name: String,
    /// The key.
    pub key: String,
}

/// A pod field.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldRef {
    /// Field path, e.g. `status.podIP`.
    pub field_path: String,
}

/// A volume mount.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeMount {
    /// Name of a volume or volume claim template.
    pub name: String,
    /// Where to mount it.
    pub mount_path: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Sub-path within the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// Resource requests and limits by resource name (`cpu`, `memory`, `ephemeral-storage`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// Guaranteed amounts.
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// Maximum amounts.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// A probe: exactly one of `httpGet` and `exec`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// Probe by HTTP GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGet>,
    /// Probe by running a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Seconds before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i32>,
    /// Failures before the probe counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i32>,
}

/// An HTTP GET probe.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpGet {
    /// Request path. Default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// Port number or container port name.
    pub port: IntOrString,
}

fn slash() -> String {
    "/".to_owned()
}

/// A port number or a port name.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i32),
    /// A name.
    String(String),
}

/// A command probe.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecAction {
    /// The command and its arguments.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
}

/// A pod volume: a name and exactly one source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Volume {
    /// Volume name, used by `volumeMounts`.
    pub name: String,
    /// Scratch space that lives as long as the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDir>,
    /// A ConfigMap's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<NamedSource>,
    /// A Secret's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<NamedSource>,
    /// A path on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPath>,
}

/// An emptyDir volume.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmptyDir {
    /// `Memory` for tmpfs; empty for node storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Size limit, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

/// A ConfigMap or Secret by name.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedSource {
    /// Its name.
    pub name: String,
}

/// A hostPath volume.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostPath {
    /// Path on the node.
    pub path: String,
    /// hostPath type, e.g. `Directory`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A per-replica PersistentVolumeClaim (StatefulSet).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeClaimTemplate {
    /// Claim name, mountable by name.
    pub name: String,
    /// Requested size, e.g. `10Gi`.
    pub storage: String,
    /// Access modes. Default `[ReadWriteOnce]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// Storage class; the cluster default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// HTTP(S) exposure.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressConfig {
    /// Host name, e.g. `shop.example.com`.
    pub host: String,
    /// Path prefix. Default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// Name of the container port to route to.
    pub service_port_name: String,
    /// Ingress class, e.g. `nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class_name: Option<String>,
    /// Serve TLS for `host` (default true), with the certificate in `tlsSecretName`; false
    /// when TLS ends before the Ingress (a load balancer) or is not wanted.
    #[serde(default = "yes")]
    pub tls: bool,
    /// The Secret holding the TLS certificate. Default `<name>-tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Annotations for the Ingress only (cert-manager's issuer, the controller's settings),
    /// over the app's own `metadata.annotations`, which every object gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn quantity_ok(q: &str) -> bool {
    let digits_end = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(digits_end);
    !num.is_empty()
        && num.parse::<f64>().is_ok()
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}

impl AppWorkloadConfig {
    pub(super) fn check(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let mut push = |path: String, message: String| issues.push(Issue { path, message });
        if self.containers.is_empty() {
            push(
                "containers".into(),
                "at least one container is required".into(),
            );
        }
        match self.workload {
            WorkloadKind::DaemonSet if self.replicas.is_some() => push(
                "replicas".into(),
                "a DaemonSet runs one pod per node; remove `replicas` or use a Deployment".into(),
            ),
            _ => {}
        }
        if !self.volume_claim_templates.is_empty() && self.workload != WorkloadKind::StatefulSet {
            push(
                "volumeClaimTemplates".into(),
                format!(
                    "volumeClaimTemplates need `workload: StatefulSet` (this is a {:?})",
                    self.workload
                ),
            );
        }
        // Every name emitted into an object must be one Kubernetes accepts.
        let mut name = |path: String, what: &str, value: &str, rule: NameRule| {
            if let Some(problem) = name_problem(what, value, rule) {
                push(path, problem);
            }
        };
        for (i, v) in self.volumes.iter().enumerate() {
            name(
                format!("volumes[{i}].name"),
                "volume name",
                &v.name,
                NameRule::Label,
            );
            if let Some(c) = &v.config_map {
                name(
                    format!("volumes[{i}].configMap.name"),
                    "ConfigMap name",
                    &c.name,
                    NameRule::Subdomain,
                );
            }
            if let Some(c) = &v.secret {
                name(
                    format!("volumes[{i}].secret.name"),
                    "Secret name",
                    &c.name,
                    NameRule::Subdomain,
                );
            }
        }
        for (i, t) in self.volume_claim_templates.iter().enumerate() {
            name(
                format!("volumeClaimTemplates[{i}].name"),
                "claim name",
                &t.name,
                NameRule::Label,
            );
            if let Some(c) = &t.storage_class_name {
                name(
                    format!("volumeClaimTemplates[{i}].storageClassName"),
                    "storage class name",
                    c,
                    NameRule::Subdomain,
                );
            }
        }
        for (ci, c) in self.containers.iter().enumerate() {
            for (ei, e) in c.env.iter().enumerate() {
                let from = e.value_from.as_ref();
                for (field, r) in [
                    ("secretKeyRef", from.and_then(|f| f.secret_key_ref.as_ref())),
                    (
                        "configMapKeyRef",
                        from.and_then(|f| f.config_map_key_ref.as_ref()),
                    ),
                ] {
                    if let Some(r) = r {
                        name(
                            format!("containers[{ci}].env[{ei}].valueFrom.{field}.name"),
                            "object name",
                            &r.name,
                            NameRule::Subdomain,
                        );
                    }
                }
            }
        }
        if let Some(ing) = &self.ingress {
            if let Some(c) = &ing.ingress_class_name {
                name(
                    "ingress.ingressClassName".into(),
                    "IngressClass name",
                    c,
                    NameRule::Subdomain,
                );
            }
            let host = ing.host.strip_prefix("*.").unwrap_or(&ing.host);
            name(
                "ingress.host".into(),
                "host name",
                host,
                NameRule::Subdomain,
            );
            if let Some(secret) = &ing.tls_secret_name {
                name(
                    "ingress.tlsSecretName".into(),
                    "Secret name",
                    secret,
                    NameRule::Subdomain,
                );
            }
        }
        let mut names = BTreeSet::new();
        let mut volume_names: BTreeSet<&str> = BTreeSet::new();
        for (i, v) in self.volumes.iter().enumerate() {
            let sources = [
                v.empty_dir.is_some(),
                v.config_map.is_some(),
                v.secret.is_some(),
                v.host_path.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                push(
                    format!("volumes[{i}]"),
                    format!("volume `{}` needs exactly one of emptyDir, configMap, secret, hostPath (found {sources})", v.name),
                );
            }
            if !volume_names.insert(&v.name) {
                push(
                    format!("volumes[{i}].name"),
                    format!("duplicate volume name `{}`", v.name),
                );
            }
        }
        for (i, t) in self.volume_claim_templates.iter().enumerate() {
            if !quantity_ok(&t.storage) {
                push(
                    format!("volumeClaimTemplates[{i}].storage"),
                    format!("`{}` is not a quantity such as `10Gi`", t.storage),
                );
            }
            if !volume_names.insert(&t.name) {
                push(
                    format!("volumeClaimTemplates[{i}].name"),
                    format!("`{}` is already a volume name", t.name),
                );
            }
        }
        let mut port_names = BTreeSet::new();
        let mut port_count = 0;
        for (ci, c) in self.containers.iter().enumerate() {
            let at = |f: &str| format!("containers[{ci}].{f}");
            if !is_dns_label(&c.name) {
                push(
                    at("name"),
                    format!(
                        "container name `{}` must be a DNS label (lower-case letters, digits, `-`)",
                        c.name
                    ),
                );
            }
            if !names.insert(c.name.as_str()) {
                push(at("name"), format!("duplicate container name `{}`", c.name));
            }
            if c.image.trim().is_empty() {
                push(at("image"), "image must not be empty".into());
            }
            for (pi, p) in c.ports.iter().enumerate() {
                port_count += 1;
                if let Some(n) = &p.name {
                    if n.len() > 15 || !is_dns_label(n) {
                        push(
                            at(&format!("ports[{pi}].name")),
                            format!("port name `{n}` must be a DNS label of at most 15 characters"),
                        );
                    }
                    if !port_names.insert(n.as_str()) {
                        push(
                            at(&format!("ports[{pi}].name")),
                            format!("duplicate port name `{n}`"),
                        );
                    }
                }
            }
            for (ei, e) in c.env.iter().enumerate() {
                let p = at(&format!("env[{ei}]"));
                match (&e.value, &e.value_from) {
                    (Some(_), Some(_)) => push(
                        p,
                        format!("env `{}` sets both value and valueFrom; keep one", e.name),
                    ),
                    (None, Some(src)) => {
                        let n = [
                            src.secret_key_ref.is_some(),
                            src.config_map_key_ref.is_some(),
                            src.field_ref.is_some(),
                        ]
                        .iter()
                        .filter(|b| **b)
                        .count();
                        if n != 1 {
                            push(format!("{p}.valueFrom"), "valueFrom needs exactly one of secretKeyRef, configMapKeyRef, fieldRef".into());
                        }
                    }
                    _ => {}
                }
            }
            for (mi, m) in c.volume_mounts.iter().enumerate() {
                if !volume_names.contains(m.name.as_str()) {
                    let known: Vec<&str> = volume_names.iter().copied().collect();
                    push(
                        at(&format!("volumeMounts[{mi}].name")),
                        format!(
                            "no volume or volumeClaimTemplate named `{}` (declared: {})",
                            m.name,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
            if let Some(r) = &c.resources {
                for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
                    for (k, q) in map {
                        if !quantity_ok(q) {
                            push(
                                at(&format!("resources.{kind}.{k}")),
                                format!("`{q}` is not a quantity such as `100m` or `128Mi`"),
                            );
                        }
                    }
                }
            }
            for (name, probe) in [
                ("startupProbe", &c.startup_probe),
                ("livenessProbe", &c.liveness_probe),
                ("readinessProbe", &c.readiness_probe),
            ] {
                if let Some(p) = probe {
                    if p.http_get.is_some() == p.exec.is_some() {
                        push(
                            at(name),
                            "a probe needs exactly one of httpGet and exec".into(),
                        );
                    }
                }
            }
        }
        if port_count > 1 {
            for (ci, c) in self.containers.iter().enumerate() {
                for (pi, p) in c.ports.iter().enumerate() {
                    if p.name.is_none() {
                        push(format!("containers[{ci}].ports[{pi}].name"), "name every port when the app has more than one (the Service needs them)".into());
                    }
                }
            }
        }
        if let Some(ing) = &self.ingress {
            if !port_names.contains(ing.service_port_name.as_str()) {
                let known: Vec<&str> = port_names.iter().copied().collect();
                push(
                    "ingress.servicePortName".into(),
                    format!(
                        "no container port named `{}` (named ports: {})",
                        ing.service_port_name,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            if !ing.path.starts_with('/') {
                push("ingress.path".into(), "path must start with `/`".into());
            }
            if !ing.tls && ing.tls_secret_name.is_some() {
                push(
                    "ingress.tlsSecretName".into(),
                    "a TLS Secret without TLS (`tls: false`): remove one of them".into(),
                );
            }
        }
        issues
    }
}

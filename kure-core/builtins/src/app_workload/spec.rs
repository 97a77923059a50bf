//! The `AppWorkload` spec: its fields (what `kure schema` and `kure explain` show, from these
//! types) and the checks the schema cannot express (`AppWorkloadConfig::check`).

use std::collections::{BTreeMap, BTreeSet};

use kure_plugin_api::sdk::is_dns_label;
use kure_plugin_api::sdk::prelude::*;
use kure_plugin_api::sdk::{name_problem, NameRule};

use crate::Strict;
use k8s_openapi::api::core::v1 as core;

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
    /// Labels for every object of the app and for its pods, over `metadata.labels`. An `app`
    /// label here is the one the app's selectors use (default: the app's name). (The Go Kure
    /// accepted this field and ignored it.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The containers of the pod; at least one.
    #[schemars(length(min = 1))]
    pub containers: Vec<Container>,
    /// Pod volumes, mounted by name in `containers[].volumeMounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Per-replica persistent volume claims (StatefulSet only), mountable by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<VolumeClaimTemplate>,
    /// Containers run to completion, in order, before `containers` start; one with
    /// `restartPolicy: Always` is a native sidecar that keeps running beside them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// The pod's security settings (Kubernetes `PodSecurityContext`: `runAsNonRoot`,
    /// `fsGroup`, `seccompProfile`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Strict<core::PodSecurityContext>>,
    /// The ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Make the ServiceAccount the pods run as (named `serviceAccountName`, default the
    /// app's name), with these settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountConfig>,
    /// Mount the ServiceAccount's API token into the pods. Default: Kubernetes' (yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// Scale the replicas with load: a HorizontalPodAutoscaler (`autoscaling/v2`;
    /// Deployment and StatefulSet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Keep pods running through voluntary disruptions (node drains): a
    /// PodDisruptionBudget (`policy/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<DisruptionBudget>,
    /// Secrets (by name) holding registry credentials for pulling the images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// Run only on nodes with these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Node and pod affinity and anti-affinity (Kubernetes `Affinity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Strict<core::Affinity>>,
    /// Taints the pods tolerate (Kubernetes `Toleration`s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Strict<core::Toleration>>,
    /// How pods spread across zones and nodes (Kubernetes `TopologySpreadConstraint`s; a
    /// constraint without `labelSelector` selects this app's pods).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<Strict<core::TopologySpreadConstraint>>,
    /// The pods' PriorityClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Seconds a pod gets to stop after SIGTERM. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub termination_grace_period_seconds: Option<i64>,
    /// Labels for the pods only (over `labels`; the selector's `app` label cannot be changed
    /// here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// Annotations for the pods only (a sidecar injector's, a scraper's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Services to make instead of the one exposing every named container port (a
    /// StatefulSet keeps its headless governing Service `<name>` as well). (The Go Kure
    /// accepted this field and ignored it.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceConfig>,
    /// Expose the app over HTTP(S) with an Ingress (TLS with the Secret `<name>-tls` unless `tls: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressConfig>,
}

/// A Service: one port (`port`, the Go Kure's form) or several (`ports`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceConfig {
    /// Service name (DNS label).
    pub name: String,
    /// Service type. Default ClusterIP.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ServiceType>,
    /// The one port the Service listens on (or use `ports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Where `port` goes: a container port number or name. Default: `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// Protocol of `port`. Default TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Several ports (instead of `port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortConfig>,
    /// The pods it routes to. Default: the app's pods (`app: <app label>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Annotations for this Service only (a load balancer's settings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Service types (the variant names are the Kubernetes values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServiceType {
    /// A cluster-internal virtual IP.
    ClusterIP,
    /// ClusterIP plus a port on every node.
    NodePort,
    /// NodePort plus an external load balancer.
    LoadBalancer,
}

/// One port of a Service.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicePortConfig {
    /// Port name; required when the Service has more than one port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The port the Service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// A container port number or name. Default: `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// Protocol. Default TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The port on every node (NodePort and LoadBalancer only), 30000-32767.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<i32>,
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
    /// Every key of ConfigMaps and Secrets as environment variables (Kubernetes
    /// `EnvFromSource`s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<Strict<core::EnvFromSource>>,
    /// `Always`, `IfNotPresent` or `Never`. Default: Kubernetes' (`Always` for `:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Hooks run after the container starts and before it stops (Kubernetes `Lifecycle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Strict<core::Lifecycle>>,
    /// `Always` on an init container makes it a native sidecar (init containers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<SidecarRestart>,
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
    /// The container's security settings (Kubernetes `SecurityContext`: `runAsNonRoot`,
    /// `readOnlyRootFilesystem`, `capabilities`, ...). (The Go Kure accepted this field and
    /// ignored it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Strict<core::SecurityContext>>,
}

/// A ServiceAccount kure makes for the app.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccountConfig {
    /// Annotations of the ServiceAccount (a cloud identity's, e.g.
    /// `eks.amazonaws.com/role-arn`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Mount its API token into pods by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_token: Option<bool>,
}

/// Autoscaling bounds and targets.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaling {
    /// Fewest replicas. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_replicas: Option<i32>,
    /// Most replicas.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Average CPU use to keep, in percent of the requests. Default 80 when no target is given.
    #[serde(
        default,
        rename = "targetCPUUtilizationPercentage",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1))]
    pub target_cpu_utilization_percentage: Option<i32>,
    /// Average memory use to keep, in percent of the requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub target_memory_utilization_percentage: Option<i32>,
}

/// How many pods a voluntary disruption may take: exactly one of the two.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DisruptionBudget {
    /// Pods that must stay available: a number or a percentage (`50%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// Pods that may be unavailable: a number or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// Image pull policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every start.
    Always,
    /// Pull when the node lacks the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// The restart policy of an init container that is a native sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SidecarRestart {
    /// Keep it running beside the containers.
    Always,
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
    /// Also listen on this port of the node. (The Go Kure accepted this field and ignored it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub host_port: Option<i32>,
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
    /// Probe by opening a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocket>,
    /// Probe by a gRPC health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Grpc>,
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
    /// Successes after a failure before the probe counts as passing (1 for liveness and
    /// startup probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub success_threshold: Option<i32>,
}

/// A TCP probe.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpSocket {
    /// Port number or container port name.
    pub port: IntOrString,
}

/// A gRPC health-check probe.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Grpc {
    /// Port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The service name sent in the health check request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
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
    /// `HTTP` (default) or `HTTPS` (certificates are not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
}

/// HTTP probe schemes.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Scheme {
    /// Plain HTTP.
    HTTP,
    /// HTTPS, without verifying the certificate.
    HTTPS,
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
    pub secret: Option<SecretSource>,
    /// A path on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPath>,
    /// An existing PersistentVolumeClaim (`claimName`, `readOnly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<Strict<core::PersistentVolumeClaimVolumeSource>>,
    /// Several sources (Secrets, ConfigMaps, the downward API, a service account token) in
    /// one directory (Kubernetes `ProjectedVolumeSource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<Strict<core::ProjectedVolumeSource>>,
    /// A volume of a CSI driver, e.g. the secrets-store driver (Kubernetes `CSIVolumeSource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<Strict<core::CSIVolumeSource>>,
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

/// A Secret by name: `secretName` (the Kubernetes and Go Kure form) or `name`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSource {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The Secret's name (kure's earlier form of `secretName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl SecretSource {
    /// The Secret's name, whichever field gave it.
    pub fn secret(&self) -> &str {
        self.secret_name
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or("")
    }
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

/// A per-replica PersistentVolumeClaim (StatefulSet): the Kubernetes (and Go Kure) form
/// `{metadata: {name}, spec: {accessModes, storageClassName, resources: {requests: {storage}}}}`,
/// or the short form `{name, storage, accessModes, storageClassName}`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeClaimTemplate {
    /// The claim's name, mountable by name (Kubernetes form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ClaimMetadata>,
    /// The claim (Kubernetes form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ClaimSpec>,
    /// Claim name, mountable by name (short form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Requested size, e.g. `10Gi` (short form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Access modes. Default `[ReadWriteOnce]` (short form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// Storage class; the cluster default when empty (short form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// A claim template's metadata.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimMetadata {
    /// Claim name, mountable by name.
    pub name: String,
}

/// A claim template's spec.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimSpec {
    /// Access modes. Default `[ReadWriteOnce]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// Storage class; the cluster default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Requested size: `requests: {storage: 10Gi}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

impl VolumeClaimTemplate {
    /// The claim's name, from either form.
    pub fn claim_name(&self) -> &str {
        self.metadata
            .as_ref()
            .map(|m| m.name.as_str())
            .or(self.name.as_deref())
            .unwrap_or("")
    }

    /// Access modes (default `[ReadWriteOnce]`).
    pub fn modes(&self) -> Vec<String> {
        let given = match &self.spec {
            Some(s) => &s.access_modes,
            None => &self.access_modes,
        };
        if given.is_empty() {
            vec!["ReadWriteOnce".to_owned()]
        } else {
            given.clone()
        }
    }

    /// The storage class, if any.
    pub fn class(&self) -> Option<&String> {
        match &self.spec {
            Some(s) => s.storage_class_name.as_ref(),
            None => self.storage_class_name.as_ref(),
        }
    }

    /// Requests and limits: `storage` from the short form, or the spec's resources.
    pub fn requests_and_limits(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        match (&self.spec, &self.storage) {
            (Some(s), _) => s
                .resources
                .as_ref()
                .map(|r| (r.requests.clone(), r.limits.clone()))
                .unwrap_or_default(),
            (None, Some(storage)) => (
                BTreeMap::from([("storage".to_owned(), storage.clone())]),
                BTreeMap::new(),
            ),
            (None, None) => Default::default(),
        }
    }
}

/// HTTP(S) exposure.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressConfig {
    /// Host name, e.g. `shop.example.com` (or list hosts in `rules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Path of `host`. Default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// How `path` matches. Default Prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<PathType>,
    /// The Service to route to: the app's (`<name>`, the default) or one of `services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Name of the Service port to route to (the app's own Service names its ports after
    /// the container ports); the default of every path of `rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port_name: Option<String>,
    /// Several hosts, each with its paths (beside or instead of `host`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IngressRuleConfig>,
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

/// How an Ingress path matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PathType {
    /// The path and everything below it.
    Prefix,
    /// The path only.
    Exact,
    /// As the Ingress controller decides.
    ImplementationSpecific,
}

/// A host and its paths.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressRuleConfig {
    /// Host name.
    pub host: String,
    /// Its paths; at least one.
    #[schemars(length(min = 1))]
    pub paths: Vec<IngressPathConfig>,
}

/// A path and where it goes.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressPathConfig {
    /// The path. Default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// How it matches. Default Prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<PathType>,
    /// The Service. Default: `ingress.serviceName`, else the app's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The Service port. Default `ingress.servicePortName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port_name: Option<String>,
}

/// One path of an Ingress, with the defaults applied.
pub struct Route<'a> {
    /// Where its fields are, for messages (`ingress`, `ingress.rules[0].paths[1]`).
    pub at: String,
    /// Host.
    pub host: &'a str,
    /// Path.
    pub path: &'a str,
    /// Path type.
    pub path_type: PathType,
    /// Service name, when not the app's own.
    pub service_name: Option<&'a String>,
    /// Service port name (checked present).
    pub service_port_name: Option<&'a String>,
}

impl IngressConfig {
    /// Every path, `host`'s first, with the defaults applied.
    pub fn routes(&self) -> Vec<Route<'_>> {
        let mut routes = Vec::new();
        if let Some(host) = &self.host {
            routes.push(Route {
                at: "ingress".to_owned(),
                host,
                path: &self.path,
                path_type: self.path_type.unwrap_or(PathType::Prefix),
                service_name: self.service_name.as_ref(),
                service_port_name: self.service_port_name.as_ref(),
            });
        }
        for (ri, rule) in self.rules.iter().enumerate() {
            for (pi, p) in rule.paths.iter().enumerate() {
                routes.push(Route {
                    at: format!("ingress.rules[{ri}].paths[{pi}]"),
                    host: &rule.host,
                    path: &p.path,
                    path_type: p.path_type.unwrap_or(PathType::Prefix),
                    service_name: p.service_name.as_ref().or(self.service_name.as_ref()),
                    service_port_name: p
                        .service_port_name
                        .as_ref()
                        .or(self.service_port_name.as_ref()),
                });
            }
        }
        routes
    }

    /// Every host, once, in order.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = Vec::new();
        for h in self
            .host
            .iter()
            .map(String::as_str)
            .chain(self.rules.iter().map(|r| r.host.as_str()))
        {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        hosts
    }
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

/// Whether `s` is a label value: at most 63 letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit (or empty).
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    s.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// Whether `s` is a label key: an optional DNS subdomain prefix and `/`, then a name as a
/// label value allows (not empty).
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    !name.is_empty()
        && is_label_value(name)
        && prefix.is_none_or(kure_plugin_api::sdk::is_dns_subdomain)
}

/// The port names a Service config gives its ports (a one-port Service's port takes the name
/// of the container port it targets).
pub(super) fn service_port_names(
    svc: &ServiceConfig,
    containers: &[Container],
) -> Vec<Option<String>> {
    if let Some(port) = svc.port {
        let target = svc.target_port.clone().unwrap_or(IntOrString::Int(port));
        let name = containers
            .iter()
            .flat_map(|c| &c.ports)
            .find_map(|p| match &target {
                IntOrString::Int(n) if *n == p.container_port => p.name.clone(),
                IntOrString::String(s) if p.name.as_deref() == Some(s) => p.name.clone(),
                _ => None,
            });
        return vec![name];
    }
    svc.ports.iter().map(|p| p.name.clone()).collect()
}

impl AppWorkloadConfig {
    /// The value of the `app` label the app's selectors use: `labels.app`, else the name.
    pub fn app_label<'a>(&'a self, name: &'a str) -> &'a str {
        self.labels.get("app").map_or(name, String::as_str)
    }

    fn check_labels(&self, push: &mut impl FnMut(String, String)) {
        for (k, v) in &self.labels {
            if !is_label_key(k) {
                push(
                    format!("labels.{}", shown(k)),
                    format!("`{}` is not a label key (an optional DNS prefix and `/`, then at most 63 letters, digits, `-`, `_`, `.`)", shown(k)),
                );
            }
            if !is_label_value(v) {
                push(
                    format!("labels.{}", shown(k)),
                    format!("`{}` is not a label value (at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit)", shown(v)),
                );
            }
        }
    }

    fn check_services(&self, port_names: &BTreeSet<&str>, push: &mut impl FnMut(String, String)) {
        let mut seen = BTreeSet::new();
        for (i, svc) in self.services.iter().enumerate() {
            let at = |f: &str| format!("services[{i}].{f}");
            if let Some(problem) = name_problem("Service name", &svc.name, NameRule::Label) {
                push(at("name"), problem);
            }
            if !seen.insert(svc.name.as_str()) {
                push(
                    at("name"),
                    format!("duplicate Service name `{}`", shown(&svc.name)),
                );
            }
            match (svc.port.is_some(), svc.ports.is_empty()) {
                (true, false) => push(at("ports"), "give `port` or `ports`, not both".into()),
                (false, true) => push(at("port"), "a Service needs `port` or `ports`".into()),
                _ => {}
            }
            if svc.port.is_none() && (svc.target_port.is_some() || svc.protocol.is_some()) {
                push(
                    at("targetPort"),
                    "`targetPort` and `protocol` go with `port`; with `ports`, give them per port"
                        .into(),
                );
            }
            let mut targets: Vec<(String, &IntOrString)> = Vec::new();
            if let Some(t) = &svc.target_port {
                targets.push((at("targetPort"), t));
            }
            let mut names = BTreeSet::new();
            for (pi, p) in svc.ports.iter().enumerate() {
                if let Some(t) = &p.target_port {
                    targets.push((at(&format!("ports[{pi}].targetPort")), t));
                }
                match &p.name {
                    Some(n) if n.len() > 15 || !is_dns_label(n) => push(
                        at(&format!("ports[{pi}].name")),
                        format!(
                            "port name `{}` must be a DNS label of at most 15 characters",
                            shown(n)
                        ),
                    ),
                    Some(n) if !names.insert(n.as_str()) => push(
                        at(&format!("ports[{pi}].name")),
                        format!("duplicate port name `{}`", shown(n)),
                    ),
                    None if svc.ports.len() > 1 => push(
                        at(&format!("ports[{pi}].name")),
                        "name every port of a Service with more than one".into(),
                    ),
                    _ => {}
                }
                if p.node_port.is_some()
                    && !matches!(
                        svc.kind,
                        Some(ServiceType::NodePort | ServiceType::LoadBalancer)
                    )
                {
                    push(
                        at(&format!("ports[{pi}].nodePort")),
                        "a nodePort needs `type: NodePort` or `LoadBalancer`".into(),
                    );
                }
            }
            for (path, t) in targets {
                if let IntOrString::String(n) = t {
                    if !port_names.contains(n.as_str()) {
                        push(
                            path,
                            format!(
                                "no container port named `{}` (named ports: {})",
                                shown(n),
                                listed(port_names)
                            ),
                        );
                    }
                }
            }
            for (k, v) in &svc.selector {
                if !is_label_key(k) || !is_label_value(v) {
                    push(
                        at(&format!("selector.{}", shown(k))),
                        format!(
                            "`{}: {}` is not a label selector (keys and values as labels have)",
                            shown(k),
                            shown(v)
                        ),
                    );
                }
            }
        }
    }

    fn check_ingress_backend(
        &self,
        app: Option<&str>,
        route: &Route<'_>,
        port_names: &BTreeSet<&str>,
        push: &mut impl FnMut(String, String),
    ) {
        let at = |f: &str| format!("{}.{f}", route.at);
        let Some(port) = route.service_port_name else {
            push(
                at("servicePortName"),
                "name the Service port to route to (`servicePortName`)".into(),
            );
            return;
        };
        let target = match route.service_name {
            Some(n) => self.services.iter().find(|s| &s.name == n),
            None => None,
        };
        let available: Vec<Option<String>> = match (route.service_name, target) {
            (_, Some(svc)) => service_port_names(svc, &self.containers),
            (None, None) if self.services.is_empty() => {
                port_names.iter().map(|n| Some((*n).to_owned())).collect()
            }
            // The app's own Service, named after the app (unknown to a check of the spec alone).
            (Some(n), None) if self.services.is_empty() && app.is_none_or(|a| a == n) => {
                port_names.iter().map(|n| Some((*n).to_owned())).collect()
            }
            (given, None) => {
                let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                push(
                    at("serviceName"),
                    match given {
                        Some(n) => format!(
                            "no Service named `{}` (this app makes: {})",
                            shown(n),
                            if names.is_empty() {
                                "its own, named after the app".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                        None => format!(
                            "with `services`, name the one to route to (one of: {})",
                            names.join(", ")
                        ),
                    },
                );
                return;
            }
        };
        if !available.iter().flatten().any(|n| n == port) {
            let known: BTreeSet<&str> = available.iter().flatten().map(String::as_str).collect();
            push(
                at("servicePortName"),
                format!(
                    "no port named `{}` on the Service (named ports: {})",
                    shown(port),
                    listed(&known)
                ),
            );
        }
        if !route.path.starts_with('/') {
            push(at("path"), "path must start with `/`".into());
        }
    }

    /// Every rule the schema cannot say; `app`: the app's name, when known (a check of the
    /// whole application), for the rules about the Services named after it.
    pub(super) fn check(&self, app: Option<&str>) -> Vec<Issue> {
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
                let field = if c.secret_name.is_some() {
                    "secretName"
                } else {
                    "name"
                };
                name(
                    format!("volumes[{i}].secret.{field}"),
                    "Secret name",
                    c.secret(),
                    NameRule::Subdomain,
                );
            }
        }
        for (i, t) in self.volume_claim_templates.iter().enumerate() {
            let long = t.metadata.is_some() || t.spec.is_some();
            let at = |f: &str| format!("volumeClaimTemplates[{i}].{f}");
            name(
                at(if long { "metadata.name" } else { "name" }),
                "claim name",
                t.claim_name(),
                NameRule::Label,
            );
            if let Some(c) = t.class() {
                name(
                    at(if long {
                        "spec.storageClassName"
                    } else {
                        "storageClassName"
                    }),
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
            if let Some(h) = &ing.host {
                name(
                    "ingress.host".into(),
                    "host name",
                    h.strip_prefix("*.").unwrap_or(h),
                    NameRule::Subdomain,
                );
            }
            for (ri, r) in ing.rules.iter().enumerate() {
                name(
                    format!("ingress.rules[{ri}].host"),
                    "host name",
                    r.host.strip_prefix("*.").unwrap_or(&r.host),
                    NameRule::Subdomain,
                );
            }
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
                v.persistent_volume_claim.is_some(),
                v.projected.is_some(),
                v.csi.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                push(
                    format!("volumes[{i}]"),
                    format!("volume `{}` needs exactly one of emptyDir, configMap, secret, hostPath, persistentVolumeClaim, projected, csi (found {sources})", shown(&v.name)),
                );
            }
            if v.secret
                .as_ref()
                .is_some_and(|c| c.secret_name.is_some() == c.name.is_some())
            {
                push(
                    format!("volumes[{i}].secret"),
                    "give the Secret's name once, as `secretName`".into(),
                );
            }
            if !volume_names.insert(&v.name) {
                push(
                    format!("volumes[{i}].name"),
                    format!("duplicate volume name `{}`", shown(&v.name)),
                );
            }
        }
        for (i, t) in self.volume_claim_templates.iter().enumerate() {
            let at = |f: &str| format!("volumeClaimTemplates[{i}].{f}");
            let long = t.metadata.is_some() || t.spec.is_some();
            let short = t.name.is_some()
                || t.storage.is_some()
                || !t.access_modes.is_empty()
                || t.storage_class_name.is_some();
            if long && short {
                push(
                    at("name"),
                    "use either `metadata` and `spec` (the Kubernetes form) or `name` and `storage`, not both".into(),
                );
                continue;
            }
            if long && (t.metadata.is_none() || t.spec.is_none()) {
                let missing = if t.metadata.is_none() {
                    "metadata"
                } else {
                    "spec"
                };
                push(
                    at(missing),
                    format!("missing `{missing}`: the Kubernetes form needs `metadata.name` and `spec.resources.requests.storage`"),
                );
                continue;
            }
            if !long && (t.name.is_none() || t.storage.is_none()) {
                let missing = if t.name.is_none() { "name" } else { "storage" };
                push(at(missing), format!("missing `{missing}`"));
                continue;
            }
            let (requests, limits) = t.requests_and_limits();
            if !requests.contains_key("storage") {
                push(
                    at("spec.resources.requests"),
                    "a claim needs `requests: {storage: <size>}`, e.g. `10Gi`".into(),
                );
            }
            for (kind, map) in [("requests", &requests), ("limits", &limits)] {
                for (k, q) in map {
                    if !quantity_ok(q) {
                        let path = if long {
                            at(&format!("spec.resources.{kind}.{k}"))
                        } else {
                            at("storage")
                        };
                        push(path, format!("`{q}` is not a quantity such as `10Gi`"));
                    }
                }
            }
            if !volume_names.insert(t.claim_name()) {
                push(
                    at(if long { "metadata.name" } else { "name" }),
                    format!("`{}` is already a volume name", shown(t.claim_name())),
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
                        shown(&c.name)
                    ),
                );
            }
            if !names.insert(c.name.as_str()) {
                push(
                    at("name"),
                    format!("duplicate container name `{}`", shown(&c.name)),
                );
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
                            format!(
                                "port name `{}` must be a DNS label of at most 15 characters",
                                shown(n)
                            ),
                        );
                    }
                    if !port_names.insert(n.as_str()) {
                        push(
                            at(&format!("ports[{pi}].name")),
                            format!("duplicate port name `{}`", shown(n)),
                        );
                    }
                }
            }
            for (ei, e) in c.env.iter().enumerate() {
                let p = at(&format!("env[{ei}]"));
                match (&e.value, &e.value_from) {
                    (Some(_), Some(_)) => push(
                        p,
                        format!(
                            "env `{}` sets both value and valueFrom; keep one",
                            shown(&e.name)
                        ),
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
                            shown(&m.name),
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
                    let actions = [
                        p.http_get.is_some(),
                        p.exec.is_some(),
                        p.tcp_socket.is_some(),
                        p.grpc.is_some(),
                    ];
                    if actions.iter().filter(|a| **a).count() != 1 {
                        push(
                            at(name),
                            "a probe needs exactly one of httpGet, exec, tcpSocket and grpc".into(),
                        );
                    }
                    if p.success_threshold.is_some_and(|t| t != 1) && name != "readinessProbe" {
                        push(
                            at(&format!("{name}.successThreshold")),
                            "must be 1 for liveness and startup probes (Kubernetes refuses anything else)".into(),
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
        for (i, c) in self.containers.iter().enumerate() {
            if c.restart_policy.is_some() {
                push(
                    format!("containers[{i}].restartPolicy"),
                    "`restartPolicy` is for init containers (`initContainers`), where `Always` makes a native sidecar".into(),
                );
            }
        }
        for (i, c) in self.init_containers.iter().enumerate() {
            let at = |f: &str| format!("initContainers[{i}].{f}");
            if let Some(problem) = name_problem("container name", &c.name, NameRule::Label) {
                push(at("name"), problem);
            }
            if !names.insert(c.name.as_str()) {
                push(
                    at("name"),
                    format!("duplicate container name `{}`", shown(&c.name)),
                );
            }
            if c.image.trim().is_empty() {
                push(at("image"), "image must not be empty".into());
            }
            let sidecar = c.restart_policy.is_some();
            for (probe, given) in [
                ("startupProbe", c.startup_probe.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("lifecycle", c.lifecycle.is_some()),
            ] {
                if given && !sidecar {
                    push(
                        at(probe),
                        format!("an init container that runs to completion has no {probe}; only a native sidecar (`restartPolicy: Always`) does"),
                    );
                }
            }
            for (mi, m) in c.volume_mounts.iter().enumerate() {
                if !volume_names.contains(m.name.as_str()) {
                    push(
                        at(&format!("volumeMounts[{mi}].name")),
                        format!(
                            "no volume or volumeClaimTemplate named `{}`",
                            shown(&m.name)
                        ),
                    );
                }
            }
        }
        for (path, value) in [
            ("serviceAccountName", self.service_account_name.as_ref()),
            ("priorityClassName", self.priority_class_name.as_ref()),
        ] {
            if let Some(v) = value {
                if let Some(problem) = name_problem(path, v, NameRule::Subdomain) {
                    push(path.into(), problem);
                }
            }
        }
        for (i, secret) in self.image_pull_secrets.iter().enumerate() {
            if let Some(problem) = name_problem("Secret name", secret, NameRule::Subdomain) {
                push(format!("imagePullSecrets[{i}]"), problem);
            }
        }
        for (field, map) in [
            ("nodeSelector", &self.node_selector),
            ("podLabels", &self.pod_labels),
        ] {
            for (k, v) in map {
                if !is_label_key(k) || !is_label_value(v) {
                    push(
                        format!("{field}.{}", shown(k)),
                        format!(
                            "`{}: {}` is not a label (keys and values as Kubernetes labels have)",
                            shown(k),
                            shown(v)
                        ),
                    );
                }
            }
        }
        if let Some(a) = &self.autoscaling {
            if self.workload == WorkloadKind::DaemonSet {
                push(
                    "autoscaling".into(),
                    "a DaemonSet runs one pod per node and cannot be autoscaled".into(),
                );
            }
            if self.replicas.is_some() {
                push(
                    "replicas".into(),
                    "with `autoscaling` the HorizontalPodAutoscaler sets the replicas: use `autoscaling.minReplicas`".into(),
                );
            }
            if a.min_replicas.is_some_and(|m| m > a.max_replicas) {
                push(
                    "autoscaling.minReplicas".into(),
                    format!("more than maxReplicas ({})", a.max_replicas),
                );
            }
            let requests = |r: &str| {
                self.containers.iter().all(|c| {
                    c.resources
                        .as_ref()
                        .is_some_and(|x| x.requests.contains_key(r))
                })
            };
            for (field, given, resource) in [
                (
                    "targetCPUUtilizationPercentage",
                    a.target_cpu_utilization_percentage.is_some()
                        || a.target_memory_utilization_percentage.is_none(),
                    "cpu",
                ),
                (
                    "targetMemoryUtilizationPercentage",
                    a.target_memory_utilization_percentage.is_some(),
                    "memory",
                ),
            ] {
                if given && !requests(resource) {
                    push(
                        format!("autoscaling.{field}"),
                        format!("utilization is a percentage of the requests: give every container `resources.requests.{resource}`"),
                    );
                }
            }
        }
        if let Some(b) = &self.pod_disruption_budget {
            if b.min_available.is_some() == b.max_unavailable.is_some() {
                push(
                    "podDisruptionBudget".into(),
                    "give exactly one of `minAvailable` and `maxUnavailable`".into(),
                );
            }
            for (field, v) in [
                ("minAvailable", &b.min_available),
                ("maxUnavailable", &b.max_unavailable),
            ] {
                match v {
                    Some(IntOrString::Int(n)) if *n < 0 => push(
                        format!("podDisruptionBudget.{field}"),
                        "must not be negative".into(),
                    ),
                    Some(IntOrString::String(p))
                        if !p
                            .strip_suffix('%')
                            .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n <= 100)) =>
                    {
                        push(
                            format!("podDisruptionBudget.{field}"),
                            format!(
                                "`{}` is neither a number nor a percentage such as `50%`",
                                shown(p)
                            ),
                        )
                    }
                    _ => {}
                }
            }
        }
        let mut annotations: Vec<(String, &BTreeMap<String, String>)> =
            vec![("podAnnotations".to_owned(), &self.pod_annotations)];
        if let Some(sa) = &self.service_account {
            annotations.push(("serviceAccount.annotations".to_owned(), &sa.annotations));
        }
        for (i, svc) in self.services.iter().enumerate() {
            annotations.push((format!("services[{i}].annotations"), &svc.annotations));
        }
        if let Some(ing) = &self.ingress {
            annotations.push(("ingress.annotations".to_owned(), &ing.annotations));
        }
        for (at, map) in annotations {
            for k in map.keys().filter(|k| !is_label_key(k)) {
                push(
                    format!("{at}.{}", shown(k)),
                    format!("`{}` is not an annotation key (an optional DNS prefix and `/`, then at most 63 letters, digits, `-`, `_`, `.`)", shown(k)),
                );
            }
        }
        let selector_label = self.labels.get("app").map(String::as_str).or(app);
        if self
            .pod_labels
            .get("app")
            .is_some_and(|v| selector_label.is_some_and(|l| l != v))
        {
            push(
                "podLabels.app".into(),
                "the pods' `app` label is the one the selectors use: set it with `labels.app`"
                    .into(),
            );
        }
        self.check_services(&port_names, &mut push);
        if let (Some(app), WorkloadKind::StatefulSet) = (app, self.workload) {
            for (i, svc) in self.services.iter().enumerate() {
                if svc.name == app {
                    push(
                        format!("services[{i}].name"),
                        format!("`{app}` is the StatefulSet's headless governing Service, which kure makes; name this one otherwise"),
                    );
                }
            }
        }
        self.check_labels(&mut push);
        if let Some(ing) = &self.ingress {
            if ing.host.is_none() && (ing.path != "/" || ing.path_type.is_some()) {
                push(
                    "ingress.path".into(),
                    "`path` and `pathType` go with `host`; give each of `rules` its paths".into(),
                );
            }
            if ing.host.is_none() && ing.rules.is_empty() {
                push(
                    "ingress.host".into(),
                    "give the `host` (or several in `rules`)".into(),
                );
            }
            for route in ing.routes() {
                self.check_ingress_backend(app, &route, &port_names, &mut push);
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

fn listed(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

/// A user's text in a message: control characters escaped, at most 120 characters.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(120).flat_map(char::escape_debug).collect();
    if s.chars().nth(120).is_some() {
        out.push('…');
    }
    out
}

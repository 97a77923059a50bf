//! `AppWorkload`: a Deployment, StatefulSet or DaemonSet, its Service and an optional Ingress.
//! Modelled on Kure's Go generator of the same name. `spec.rs` holds the spec's fields and
//! checks; this file renders a checked spec into Kubernetes objects.

mod spec;

pub use spec::*;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use kure_plugin_api::sdk::prelude::*;

use super::GROUP_VERSION;

/// The AppWorkload generator.
#[derive(Debug, Default)]
pub struct AppWorkload;

/// An object's metadata: the app's (`app: <name>`, its labels and annotations) with
/// `spec.labels` over it.
fn meta(app: &Application<AppWorkloadConfig>, name: &str) -> Result<ObjectMeta, Error> {
    let mut meta: ObjectMeta = serde_json::from_value(app.child_metadata(name))?;
    if !app.spec.labels.is_empty() {
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(app.spec.labels.clone());
    }
    Ok(meta)
}

/// `v`, or `None` when empty (Kubernetes omits empty lists).
fn some_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn quantities(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, Quantity>> {
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| (k.clone(), Quantity(v.clone())))
            .collect()
    })
}

fn int_or_string(p: &IntOrString) -> K8sIntOrString {
    match p {
        IntOrString::Int(i) => K8sIntOrString::Int(*i),
        IntOrString::String(s) => K8sIntOrString::String(s.clone()),
    }
}

fn probe(p: &Option<Probe>) -> Option<core::Probe> {
    p.as_ref().map(|p| core::Probe {
        http_get: p.http_get.as_ref().map(|h| core::HTTPGetAction {
            path: Some(h.path.clone()),
            port: int_or_string(&h.port),
            scheme: h.scheme.map(|s| format!("{s:?}")),
            ..Default::default()
        }),
        tcp_socket: p.tcp_socket.as_ref().map(|t| core::TCPSocketAction {
            port: int_or_string(&t.port),
            host: None,
        }),
        grpc: p.grpc.as_ref().map(|g| core::GRPCAction {
            port: g.port,
            service: g.service.clone(),
        }),
        success_threshold: p.success_threshold,
        exec: p.exec.as_ref().map(|e| core::ExecAction {
            command: Some(e.command.clone()),
        }),
        initial_delay_seconds: p.initial_delay_seconds,
        period_seconds: p.period_seconds,
        timeout_seconds: p.timeout_seconds,
        failure_threshold: p.failure_threshold,
        ..Default::default()
    })
}

fn key_ref_secret(k: &KeyRef) -> core::SecretKeySelector {
    core::SecretKeySelector {
        name: k.name.clone(),
        key: k.key.clone(),
        optional: None,
    }
}

fn container(c: &Container) -> core::Container {
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    core::Container {
        name: c.name.clone(),
        image: Some(c.image.clone()),
        command: some_vec(&c.command),
        args: some_vec(&c.args),
        ports: (!c.ports.is_empty()).then(|| {
            c.ports
                .iter()
                .map(|p| core::ContainerPort {
                    name: p.name.clone(),
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: Some(format!("{:?}", p.protocol)),
                    ..Default::default()
                })
                .collect()
        }),
        env: (!c.env.is_empty()).then(|| {
            c.env
                .iter()
                .map(|e| core::EnvVar {
                    name: e.name.clone(),
                    value: e.value.clone(),
                    value_from: e.value_from.as_ref().map(|s| core::EnvVarSource {
                        secret_key_ref: s.secret_key_ref.as_ref().map(key_ref_secret),
                        config_map_key_ref: s.config_map_key_ref.as_ref().map(|k| {
                            core::ConfigMapKeySelector {
                                name: k.name.clone(),
                                key: k.key.clone(),
                                optional: None,
                            }
                        }),
                        field_ref: s.field_ref.as_ref().map(|f| core::ObjectFieldSelector {
                            field_path: f.field_path.clone(),
                            api_version: None,
                        }),
                        ..Default::default()
                    }),
                })
                .collect()
        }),
        volume_mounts: (!c.volume_mounts.is_empty()).then(|| {
            c.volume_mounts
                .iter()
                .map(|m| core::VolumeMount {
                    name: m.name.clone(),
                    mount_path: m.mount_path.clone(),
                    read_only: m.read_only.then_some(true),
                    sub_path: m.sub_path.clone(),
                    ..Default::default()
                })
                .collect()
        }),
        resources: c.resources.as_ref().map(|r| core::ResourceRequirements {
            requests: quantities(&r.requests),
            limits: quantities(&r.limits),
            ..Default::default()
        }),
        startup_probe: probe(&c.startup_probe),
        liveness_probe: probe(&c.liveness_probe),
        readiness_probe: probe(&c.readiness_probe),
        security_context: c.security_context.clone().map(|s| s.0),
        env_from: (!c.env_from.is_empty())
            .then(|| c.env_from.iter().map(|e| e.0.clone()).collect()),
        image_pull_policy: c.image_pull_policy.map(|p| format!("{p:?}")),
        lifecycle: c.lifecycle.clone().map(|l| l.0),
        restart_policy: c.restart_policy.map(|p| format!("{p:?}")),
        ..Default::default()
    }
}

fn volume(v: &Volume) -> core::Volume {
    core::Volume {
        name: v.name.clone(),
        empty_dir: v.empty_dir.as_ref().map(|e| core::EmptyDirVolumeSource {
            medium: e.medium.clone(),
            size_limit: e.size_limit.clone().map(Quantity),
        }),
        config_map: v.config_map.as_ref().map(|c| core::ConfigMapVolumeSource {
            name: c.name.clone(),
            ..Default::default()
        }),
        secret: v.secret.as_ref().map(|s| core::SecretVolumeSource {
            secret_name: Some(s.secret().to_owned()),
            ..Default::default()
        }),
        host_path: v.host_path.as_ref().map(|h| core::HostPathVolumeSource {
            path: h.path.clone(),
            type_: h.kind.clone(),
        }),
        persistent_volume_claim: v.persistent_volume_claim.clone().map(|c| c.0),
        projected: v.projected.clone().map(|p| p.0),
        csi: v.csi.clone().map(|c| c.0),
        ..Default::default()
    }
}

/// A Service of `services`.
fn service(
    app: &Application<AppWorkloadConfig>,
    svc: &ServiceConfig,
    pods: BTreeMap<String, String>,
) -> Result<core::Service, Error> {
    let mut metadata = meta(app, &svc.name)?;
    if !svc.annotations.is_empty() {
        metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(svc.annotations.clone());
    }
    let protocol = |p: Option<Protocol>| Some(format!("{:?}", p.unwrap_or_default()));
    let ports = match svc.port {
        Some(port) => {
            let name = service_port_names(svc, &app.spec.containers).remove(0);
            vec![core::ServicePort {
                name,
                port,
                target_port: Some(int_or_string(
                    svc.target_port.as_ref().unwrap_or(&IntOrString::Int(port)),
                )),
                protocol: protocol(svc.protocol),
                ..Default::default()
            }]
        }
        None => svc
            .ports
            .iter()
            .map(|p| core::ServicePort {
                name: p.name.clone(),
                port: p.port,
                target_port: Some(int_or_string(
                    p.target_port.as_ref().unwrap_or(&IntOrString::Int(p.port)),
                )),
                protocol: protocol(p.protocol),
                node_port: p.node_port,
                ..Default::default()
            })
            .collect(),
    };
    Ok(core::Service {
        metadata,
        spec: Some(core::ServiceSpec {
            type_: svc.kind.map(|k| format!("{k:?}")),
            selector: Some(if svc.selector.is_empty() {
                pods
            } else {
                svc.selector.clone()
            }),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    })
}

/// One object AppWorkload generates, serialised as the object itself.
#[derive(Serialize)]
#[serde(untagged)]
enum Manifest {
    Deployment(apps::Deployment),
    StatefulSet(apps::StatefulSet),
    DaemonSet(apps::DaemonSet),
    Service(core::Service),
    Ingress(net::Ingress),
    ServiceAccount(core::ServiceAccount),
    HorizontalPodAutoscaler(autoscaling::HorizontalPodAutoscaler),
    PodDisruptionBudget(policy::PodDisruptionBudget),
}

/// The workload's replicas: none with autoscaling (the HorizontalPodAutoscaler owns them, and
/// a GitOps sync would otherwise reset them), else `replicas` or 1.
fn replicas(spec: &AppWorkloadConfig) -> Option<i32> {
    match spec.autoscaling {
        Some(_) => None,
        None => Some(spec.replicas.unwrap_or(1)),
    }
}

fn manifests(app: &Application<AppWorkloadConfig>) -> Result<Vec<Manifest>, Error> {
    let spec = &app.spec;
    let name = app.metadata.name.as_str();
    let pods = || BTreeMap::from([("app".to_owned(), spec.app_label(name).to_owned())]);
    let selector = LabelSelector {
        match_labels: Some(pods()),
        ..Default::default()
    };
    let mut pod_meta = meta(app, name)?;
    pod_meta.name = None;
    pod_meta.namespace = None;
    if !spec.pod_labels.is_empty() {
        pod_meta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(spec.pod_labels.clone());
    }
    if !spec.pod_annotations.is_empty() {
        pod_meta
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(spec.pod_annotations.clone());
    }
    let pod = core::PodTemplateSpec {
        metadata: Some(pod_meta),
        spec: Some(core::PodSpec {
            init_containers: some_vec(spec.init_containers.iter().map(container).collect()),
            containers: spec.containers.iter().map(container).collect(),
            volumes: (!spec.volumes.is_empty()).then(|| spec.volumes.iter().map(volume).collect()),
            security_context: spec.security_context.clone().map(|s| s.0),
            service_account_name: spec
                .service_account_name
                .clone()
                .or_else(|| spec.service_account.as_ref().map(|_| name.to_owned())),
            automount_service_account_token: spec.automount_service_account_token,
            image_pull_secrets: some_vec(
                spec.image_pull_secrets
                    .iter()
                    .map(|n| core::LocalObjectReference { name: n.clone() })
                    .collect(),
            ),
            node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
            affinity: spec.affinity.clone().map(|a| a.0),
            tolerations: some_vec(spec.tolerations.iter().map(|t| t.0.clone()).collect()),
            topology_spread_constraints: some_vec(
                spec.topology_spread_constraints
                    .iter()
                    .map(|t| {
                        let mut t = t.0.clone();
                        // Without a selector a constraint counts no pods: this app's, then.
                        t.label_selector.get_or_insert_with(|| LabelSelector {
                            match_labels: Some(pods()),
                            ..Default::default()
                        });
                        t
                    })
                    .collect(),
            ),
            priority_class_name: spec.priority_class_name.clone(),
            termination_grace_period_seconds: spec.termination_grace_period_seconds,
            ..Default::default()
        }),
    };
    let mut out = Vec::with_capacity(3);
    let workload = match spec.workload {
        WorkloadKind::Deployment => Manifest::Deployment(apps::Deployment {
            metadata: meta(app, name)?,
            spec: Some(apps::DeploymentSpec {
                replicas: replicas(spec),
                selector,
                template: pod,
                ..Default::default()
            }),
            status: None,
        }),
        WorkloadKind::StatefulSet => Manifest::StatefulSet(apps::StatefulSet {
            metadata: meta(app, name)?,
            spec: Some(apps::StatefulSetSpec {
                replicas: replicas(spec),
                selector,
                service_name: Some(name.to_owned()),
                template: pod,
                volume_claim_templates: (!spec.volume_claim_templates.is_empty()).then(|| {
                    spec.volume_claim_templates
                        .iter()
                        .map(|t| {
                            let (requests, limits) = t.requests_and_limits();
                            core::PersistentVolumeClaim {
                                metadata: ObjectMeta {
                                    name: Some(t.claim_name().to_owned()),
                                    ..Default::default()
                                },
                                spec: Some(core::PersistentVolumeClaimSpec {
                                    access_modes: Some(t.modes()),
                                    storage_class_name: t.class().cloned(),
                                    resources: Some(core::VolumeResourceRequirements {
                                        requests: quantities(&requests),
                                        limits: quantities(&limits),
                                    }),
                                    ..Default::default()
                                }),
                                status: None,
                            }
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            status: None,
        }),
        WorkloadKind::DaemonSet => Manifest::DaemonSet(apps::DaemonSet {
            metadata: meta(app, name)?,
            spec: Some(apps::DaemonSetSpec {
                selector,
                template: pod,
                ..Default::default()
            }),
            status: None,
        }),
    };
    out.push(workload);

    let ports: Vec<core::ServicePort> = spec
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .map(|p| core::ServicePort {
            name: p.name.clone(),
            port: p.container_port,
            target_port: Some(match &p.name {
                Some(n) => K8sIntOrString::String(n.clone()),
                None => K8sIntOrString::Int(p.container_port),
            }),
            protocol: Some(format!("{:?}", p.protocol)),
            ..Default::default()
        })
        .collect();
    // A StatefulSet's `serviceName` names its governing Service, which must exist and be
    // headless (it gives each pod its DNS name): made for every StatefulSet, ports or not.
    let stateful = matches!(spec.workload, WorkloadKind::StatefulSet);
    // With `services`, those replace the app's own Service (a StatefulSet keeps its
    // governing one, headless and without ports then).
    let own = spec.services.is_empty();
    if (own && !ports.is_empty()) || stateful {
        out.push(Manifest::Service(core::Service {
            metadata: meta(app, name)?,
            spec: Some(core::ServiceSpec {
                cluster_ip: stateful.then(|| "None".to_owned()),
                selector: Some(pods()),
                ports: (own && !ports.is_empty()).then_some(ports),
                ..Default::default()
            }),
            status: None,
        }));
    }
    for svc in &spec.services {
        out.push(Manifest::Service(service(app, svc, pods())?));
    }

    if let Some(sa) = &spec.service_account {
        let sa_name = spec.service_account_name.as_deref().unwrap_or(name);
        let mut metadata = meta(app, sa_name)?;
        if !sa.annotations.is_empty() {
            metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(sa.annotations.clone());
        }
        out.push(Manifest::ServiceAccount(core::ServiceAccount {
            metadata,
            automount_service_account_token: sa.automount_token,
            ..Default::default()
        }));
    }
    if let Some(a) = &spec.autoscaling {
        let kind = match spec.workload {
            WorkloadKind::StatefulSet => "StatefulSet",
            _ => "Deployment",
        };
        let target = |resource: &str, percent: i32| autoscaling::MetricSpec {
            type_: "Resource".to_owned(),
            resource: Some(autoscaling::ResourceMetricSource {
                name: resource.to_owned(),
                target: autoscaling::MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(percent),
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        let mut metrics = Vec::new();
        match (
            a.target_cpu_utilization_percentage,
            a.target_memory_utilization_percentage,
        ) {
            (None, None) => metrics.push(target("cpu", 80)),
            (cpu, memory) => {
                metrics.extend(cpu.map(|p| target("cpu", p)));
                metrics.extend(memory.map(|p| target("memory", p)));
            }
        }
        out.push(Manifest::HorizontalPodAutoscaler(
            autoscaling::HorizontalPodAutoscaler {
                metadata: meta(app, name)?,
                spec: Some(autoscaling::HorizontalPodAutoscalerSpec {
                    scale_target_ref: autoscaling::CrossVersionObjectReference {
                        api_version: Some("apps/v1".to_owned()),
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                    },
                    min_replicas: Some(a.min_replicas.unwrap_or(1)),
                    max_replicas: a.max_replicas,
                    metrics: Some(metrics),
                    behavior: None,
                }),
                status: None,
            },
        ));
    }
    if let Some(b) = &spec.pod_disruption_budget {
        out.push(Manifest::PodDisruptionBudget(policy::PodDisruptionBudget {
            metadata: meta(app, name)?,
            spec: Some(policy::PodDisruptionBudgetSpec {
                min_available: b.min_available.as_ref().map(int_or_string),
                max_unavailable: b.max_unavailable.as_ref().map(int_or_string),
                selector: Some(LabelSelector {
                    match_labels: Some(pods()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        }));
    }

    if let Some(ing) = &spec.ingress {
        let mut metadata = meta(app, name)?;
        if !ing.annotations.is_empty() {
            let mut annotations = metadata.annotations.take().unwrap_or_default();
            annotations.extend(ing.annotations.clone());
            metadata.annotations = Some(annotations);
        }
        // One rule per host, its paths in the order given.
        let mut rules: Vec<net::IngressRule> = Vec::new();
        for route in ing.routes() {
            let path = net::HTTPIngressPath {
                path: Some(route.path.to_owned()),
                path_type: format!("{:?}", route.path_type),
                backend: net::IngressBackend {
                    service: Some(net::IngressServiceBackend {
                        name: route
                            .service_name
                            .cloned()
                            .unwrap_or_else(|| name.to_owned()),
                        port: Some(net::ServiceBackendPort {
                            name: route.service_port_name.cloned(),
                            number: None,
                        }),
                    }),
                    resource: None,
                },
            };
            match rules
                .iter_mut()
                .find(|r| r.host.as_deref() == Some(route.host))
            {
                Some(rule) => {
                    if let Some(http) = rule.http.as_mut() {
                        http.paths.push(path);
                    }
                }
                None => rules.push(net::IngressRule {
                    host: Some(route.host.to_owned()),
                    http: Some(net::HTTPIngressRuleValue { paths: vec![path] }),
                }),
            }
        }
        out.push(Manifest::Ingress(net::Ingress {
            metadata,
            spec: Some(net::IngressSpec {
                ingress_class_name: ing.ingress_class_name.clone(),
                tls: ing.tls.then(|| {
                    vec![net::IngressTLS {
                        hosts: Some(ing.hosts().into_iter().map(str::to_owned).collect()),
                        secret_name: Some(
                            ing.tls_secret_name
                                .clone()
                                .unwrap_or_else(|| format!("{name}-tls")),
                        ),
                    }]
                }),
                rules: Some(rules),
                ..Default::default()
            }),
            status: None,
        }));
    }
    Ok(out)
}

fn issues(found: Vec<Issue>) -> Result<(), Error> {
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::issues(found))
    }
}

impl Generator for AppWorkload {
    type Config = AppWorkloadConfig;
    const API_VERSION: &'static str = GROUP_VERSION;
    const KIND: &'static str = "AppWorkload";
    const WRITES_JSON: bool = true;

    fn validate(&self, config: &AppWorkloadConfig) -> Result<(), Error> {
        issues(config.check(None))
    }

    fn validate_application(&self, app: &Application<AppWorkloadConfig>) -> Result<(), Error> {
        issues(app.spec.check(Some(&app.metadata.name)))
    }

    fn generate(&self, app: &Application<AppWorkloadConfig>) -> Result<Vec<Object>, Error> {
        manifests(app)?
            .iter()
            .map(|m| serde_json::to_value(m).map_err(Error::msg))
            .collect()
    }

    /// The typed objects straight to JSON text: no values built on the way.
    fn generate_json(&self, app: &Application<AppWorkloadConfig>) -> Result<String, Error> {
        let mut out = JsonArray::new();
        for m in manifests(app)? {
            out.push(&m)?;
        }
        Ok(out.finish())
    }

    fn documentation(&self) -> Documentation {
        Documentation {
            documentation: "Generates an application workload: a Deployment, StatefulSet or DaemonSet \
                            labelled `app: <name>`, a Service exposing every container port (when any \
                            container has ports; for a StatefulSet always, headless, as its governing \
                            Service), and an Ingress when `ingress` is set: TLS with the \
                            Secret `<name>-tls` (or `tlsSecretName`) unless `tls: false`, and \
                            `ingress.annotations` on the Ingress only."
                .to_owned(),
            examples: vec![
                Example::new("web", "A Deployment with a Service and an Ingress", include_str!("../../../../examples/shop.yaml")),
                Example::new("database", "A StatefulSet with per-replica storage", include_str!("../../../../examples/postgres.yaml")),
            ],
            usage_guide: "Set `workload`, list `containers` with an `image` each, name the ports you want \
                          exposed, and add `ingress` with a `servicePortName` to publish one of them. \
                          `kure generate -f app.yaml` prints the manifests; `-o DIR` writes a kustomize tree."
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kure_plugin_api::host::erase;
    use serde_json::json;

    fn app(spec: Value) -> Value {
        json!({"apiVersion": "generators.gokure.dev/v1alpha1", "kind": "AppWorkload",
               "metadata": {"name": "shop", "namespace": "web"}, "spec": spec})
    }

    fn kinds(objects: &[Value]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or(""))
            .collect()
    }

    #[test]
    fn a_service_only_with_ports_and_an_ingress_only_when_asked() {
        let g = erase(AppWorkload);
        let bare = app(
            json!({"workload": "Deployment", "containers": [{"name": "c", "image": "nginx:1"}]}),
        );
        assert_eq!(kinds(&g.generate(&bare).expect("generate")), ["Deployment"]);
        let full = app(json!({"workload": "StatefulSet", "replicas": 2,
            "containers": [{"name": "c", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}],
            "ingress": {"host": "shop.example.com", "servicePortName": "http"}}));
        let objects = g.generate(&full).expect("generate");
        assert_eq!(kinds(&objects), ["StatefulSet", "Service", "Ingress"]);
        for o in &objects {
            assert_eq!(o["metadata"]["namespace"], "web");
            assert_eq!(o["metadata"]["labels"]["app"], "shop");
        }
        assert_eq!(objects[0]["spec"]["replicas"], 2);
        assert_eq!(objects[2]["spec"]["tls"][0]["secretName"], "shop-tls");
    }

    /// Issue 30: a StatefulSet's `serviceName` named a Service that was not headless, or
    /// (without ports) one that was never made.
    #[test]
    fn a_stateful_set_gets_its_headless_governing_service() {
        let g = erase(AppWorkload);
        for ports in [json!([]), json!([{"name": "pg", "containerPort": 5432}])] {
            let spec = app(json!({"workload": "StatefulSet",
                "containers": [{"name": "c", "image": "postgres:16", "ports": ports}]}));
            let objects = g.generate(&spec).expect("generate");
            assert_eq!(kinds(&objects), ["StatefulSet", "Service"], "{ports}");
            assert_eq!(
                objects[0]["spec"]["serviceName"],
                objects[1]["metadata"]["name"]
            );
            assert_eq!(objects[1]["spec"]["clusterIP"], "None", "{ports}");
        }
        // A Deployment's Service stays a normal one.
        let web = app(json!({"workload": "Deployment",
            "containers": [{"name": "c", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}]}));
        let objects = g.generate(&web).expect("generate");
        assert!(
            objects[1]["spec"].get("clusterIP").is_none(),
            "{}",
            objects[1]
        );
    }

    /// Issue 30: the Ingress always named a `<name>-tls` Secret, and an annotation meant for
    /// it (cert-manager's issuer) could only be put on every object.
    #[test]
    fn ingress_tls_is_optional_and_its_annotations_are_its_own() {
        let g = erase(AppWorkload);
        let with = |ingress: Value| {
            let mut spec = app(json!({"workload": "Deployment",
                "containers": [{"name": "c", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}],
                "ingress": ingress}));
            spec["metadata"]["annotations"] = json!({"team": "shop"});
            g.generate(&spec).expect("generate")
        };
        let plain =
            with(json!({"host": "shop.example.com", "servicePortName": "http", "tls": false}));
        assert!(plain[2]["spec"].get("tls").is_none(), "{}", plain[2]);
        let own = with(
            json!({"host": "shop.example.com", "servicePortName": "http",
            "tlsSecretName": "wildcard-example-com",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt", "team": "edge"}}),
        );
        assert_eq!(
            own[2]["spec"]["tls"][0]["secretName"],
            "wildcard-example-com"
        );
        assert_eq!(
            own[2]["metadata"]["annotations"],
            json!({"cert-manager.io/cluster-issuer": "letsencrypt", "team": "edge"})
        );
        for other in &own[..2] {
            assert_eq!(
                other["metadata"]["annotations"],
                json!({"team": "shop"}),
                "{other}"
            );
        }
        let both = app(json!({"workload": "Deployment",
            "containers": [{"name": "c", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}],
            "ingress": {"host": "shop.example.com", "servicePortName": "http", "tls": false, "tlsSecretName": "x"}}));
        let e = g.generate(&both).expect_err("a secret without TLS");
        assert!(
            e.issues.iter().any(|i| i.path == "ingress.tlsSecretName"),
            "{e:?}"
        );
    }

    /// Issue 26: each rule of the new fields, and what the fields make.
    #[test]
    fn production_fields_render_and_their_rules_hold() {
        let g = erase(AppWorkload);
        let c = json!([{"name": "c", "image": "nginx:1",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "ports": [{"name": "http", "containerPort": 80}]}]);
        let problems = |spec: Value| -> Vec<String> {
            match g.validate_application(&app(spec)) {
                Ok(()) => Vec::new(),
                Err(e) => e
                    .issues
                    .iter()
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect(),
            }
        };
        for (spec, needle) in [
            (
                json!({"workload": "Deployment", "containers": c, "replicas": 2,
                "autoscaling": {"maxReplicas": 4}}),
                "replicas: with `autoscaling`",
            ),
            (
                json!({"workload": "DaemonSet", "containers": c,
                "autoscaling": {"maxReplicas": 4}}),
                "autoscaling: a DaemonSet",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "autoscaling": {"minReplicas": 5, "maxReplicas": 4}}),
                "autoscaling.minReplicas: more than",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "podDisruptionBudget": {"minAvailable": "150%"}}),
                "podDisruptionBudget.minAvailable",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "services": [{"name": "a", "port": 80, "ports": [{"port": 81}]}]}),
                "services[0].ports: give `port` or `ports`",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "services": [{"name": "a", "port": 80, "targetPort": "grpc"}]}),
                "services[0].targetPort: no container port named `grpc`",
            ),
            (
                json!({"workload": "StatefulSet", "containers": c,
                "services": [{"name": "shop", "port": 80}]}),
                "services[0].name: `shop` is the StatefulSet's headless",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "ingress": {"host": "a.example.com", "serviceName": "other", "servicePortName": "http"}}),
                "ingress.serviceName: no Service named `other`",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "ingress": {"rules": [{"host": "a.example.com", "paths": [{"path": "/"}]}]}}),
                "ingress.rules[0].paths[0].servicePortName: name the Service port",
            ),
            (
                json!({"workload": "Deployment", "containers": c,
                "initContainers": [{"name": "i", "image": "busybox:1", "readinessProbe": {"exec": {"command": ["true"]}}}]}),
                "initContainers[0].readinessProbe: an init container",
            ),
            (
                json!({"workload": "Deployment", "containers": [{"name": "c", "image": "nginx:1", "restartPolicy": "Always"}]}),
                "containers[0].restartPolicy",
            ),
            (
                json!({"workload": "StatefulSet", "containers": c,
                "volumeClaimTemplates": [{"name": "d", "storage": "1Gi", "metadata": {"name": "d"}}]}),
                "volumeClaimTemplates[0].name: use either",
            ),
            (
                json!({"workload": "Deployment", "containers": c, "labels": {"app": "Not Valid"}}),
                "labels.app",
            ),
        ] {
            let found = problems(spec.clone());
            assert!(
                found.iter().any(|p| p.starts_with(needle)),
                "{needle}: {found:?}\n{spec}"
            );
        }

        // What they make: no replicas under an HPA, one rule per host and every host in TLS,
        // the PDB and HPA select and target the app.
        let objects = g
            .generate(&app(json!({"workload": "Deployment", "containers": c,
                "autoscaling": {"maxReplicas": 4, "targetMemoryUtilizationPercentage": 75},
                "podDisruptionBudget": {"maxUnavailable": 1},
                "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:x"}},
                "ingress": {"servicePortName": "http", "host": "a.example.com",
                    "rules": [{"host": "b.example.com", "paths": [{"path": "/api", "pathType": "Exact"}, {"path": "/"}]}]}})))
            .expect("generate");
        assert_eq!(
            kinds(&objects),
            [
                "Deployment",
                "Service",
                "ServiceAccount",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
                "Ingress"
            ]
        );
        assert!(
            objects[0]["spec"].get("replicas").is_none(),
            "{}",
            objects[0]
        );
        assert_eq!(
            objects[0]["spec"]["template"]["spec"]["serviceAccountName"],
            "shop"
        );
        assert_eq!(
            objects[2]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:x"
        );
        assert_eq!(objects[3]["spec"]["scaleTargetRef"]["name"], "shop");
        assert_eq!(
            objects[3]["spec"]["metrics"][0]["resource"]["name"],
            "memory"
        );
        assert_eq!(objects[4]["spec"]["selector"]["matchLabels"]["app"], "shop");
        let ingress = &objects[5]["spec"];
        assert_eq!(
            ingress["tls"][0]["hosts"],
            json!(["a.example.com", "b.example.com"])
        );
        assert_eq!(ingress["rules"][1]["http"]["paths"][0]["pathType"], "Exact");
        assert_eq!(
            ingress["rules"][1]["http"]["paths"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn rules_the_schema_cannot_say_are_checked() {
        let g = erase(AppWorkload);
        // An ingress must name a port the containers expose.
        let spec = json!({"workload": "Deployment",
            "containers": [{"name": "c", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}],
            "ingress": {"host": "shop.example.com", "servicePortName": "grpc"}});
        let e = g.validate(&spec).expect_err("unknown port");
        assert!(!e.issues.is_empty() || !e.message.is_empty());
        assert!(g.json_schema().expect("schema")["properties"]["containers"].is_object());
    }
}

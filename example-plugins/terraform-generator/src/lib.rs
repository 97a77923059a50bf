//! A kure plugin that runs Terraform inside the cluster.
//!
//! `TerraformConfig` (`generators.example.com/v1alpha1`) becomes:
//! - a ConfigMap `<name>-terraform` holding `main.tf` and `terraform.tfvars.json`,
//! - a Job `<name>-apply` that copies them to a work dir and runs `terraform init` + `apply`,
//! - a ServiceAccount, Role and RoleBinding for the Job (Terraform's Kubernetes backend and
//!   providers need to read Secrets and manage Leases in the namespace),
//! - a reference (`envFrom`) to the Secret holding backend credentials, when given.

use std::collections::BTreeMap;

use kure_plugin_api::sdk::prelude::*;

/// Terraform run as a Kubernetes Job: a module, its variables, and a state backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TerraformConfig {
    /// The module to apply: its source as a string (`./terraform/modules/vpc`), or an object
    /// with `source` and an optional registry `version`.
    pub module: ModuleRef,
    /// Input variables of the module.
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
    /// Where Terraform keeps its state. Default: the `kubernetes` backend (a Secret in the
    /// namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// Terraform version constraint written to `required_version`, e.g. `>= 1.6.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_version: Option<String>,
    /// Terraform image. Default `hashicorp/terraform:1.9`.
    #[serde(default = "default_image")]
    pub image: String,
}

fn default_image() -> String {
    "hashicorp/terraform:1.9".to_owned()
}

/// A Terraform module, named by its source alone or with a version constraint.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ModuleRef {
    /// Module source: a registry address, git URL or local path.
    Source(String),
    /// Module source and version.
    Module(Module),
}

impl ModuleRef {
    /// The module source.
    pub fn source(&self) -> &str {
        match self {
            Self::Source(s) => s,
            Self::Module(m) => &m.source,
        }
    }

    /// The version constraint, when given.
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::Source(_) => None,
            Self::Module(m) => m.version.as_deref(),
        }
    }
}

/// A Terraform module with an optional version.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Module {
    /// Module source: a registry address, git URL or local path.
    pub source: String,
    /// Version constraint (registry modules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A state backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backend {
    /// Backend type, e.g. `s3`, `gcs`, `azurerm`, `kubernetes`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Backend settings (non-secret).
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    /// Secret whose keys become environment variables of the Job (backend credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// The generator.
#[derive(Debug, Default)]
pub struct TerraformGenerator;

fn hcl_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn hcl_value(v: &Value) -> String {
    // JSON scalars, lists and maps are valid HCL expressions.
    v.to_string()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Renders `main.tf` for a config.
/// `main.tf` for app `app`. With the default (kubernetes) backend the state lives in the
/// app's namespace: `namespace` when the spec names one, else the namespace the Job runs in,
/// which Terraform reads from `KUBE_NAMESPACE` (set from the pod's own namespace).
pub fn main_tf(spec: &TerraformConfig, app: &str, namespace: Option<&str>) -> String {
    let mut tf = String::from("terraform {\n");
    if let Some(v) = &spec.required_version {
        tf.push_str(&format!("  required_version = {}\n", hcl_string(v)));
    }
    match &spec.backend {
        Some(b) => {
            tf.push_str(&format!("  backend {} {{\n", hcl_string(&b.kind)));
            for (k, v) in &b.config {
                tf.push_str(&format!("    {k} = {}\n", hcl_value(v)));
            }
            tf.push_str("  }\n");
        }
        None => {
            tf.push_str("  backend \"kubernetes\" {\n");
            tf.push_str(&format!("    secret_suffix = {}\n", hcl_string(app)));
            if let Some(namespace) = namespace {
                tf.push_str(&format!("    namespace     = {}\n", hcl_string(namespace)));
            }
            tf.push_str("    in_cluster_config = true\n  }\n");
        }
    }
    tf.push_str("}\n\n");
    tf.push_str(&format!("module {} {{\n", hcl_string(app)));
    tf.push_str(&format!(
        "  source = {}\n",
        hcl_string(spec.module.source())
    ));
    if let Some(v) = spec.module.version() {
        tf.push_str(&format!("  version = {}\n", hcl_string(v)));
    }
    for k in spec.variables.keys() {
        tf.push_str(&format!("  {k} = var.{k}\n"));
    }
    tf.push_str("}\n");
    for k in spec.variables.keys() {
        tf.push_str(&format!("\nvariable {} {{}}\n", hcl_string(k)));
    }
    tf
}

impl Generator for TerraformGenerator {
    type Config = TerraformConfig;
    const API_VERSION: &'static str = "generators.example.com/v1alpha1";
    const KIND: &'static str = "TerraformConfig";

    fn validate(&self, spec: &TerraformConfig) -> Result<(), Error> {
        let mut issues = Vec::new();
        if spec.module.source().trim().is_empty() {
            issues.push(Issue {
                path: match spec.module {
                    ModuleRef::Source(_) => "module",
                    ModuleRef::Module(_) => "module.source",
                }
                .into(),
                message: "module source must not be empty".into(),
            });
        }
        for k in spec.variables.keys() {
            if !is_identifier(k) {
                issues.push(Issue {
                    path: format!("variables.{k}"),
                    message: format!("`{k}` is not a Terraform identifier (letters, digits, `_`, `-`; starting with a letter)"),
                });
            }
        }
        if let Some(b) = &spec.backend {
            if !is_identifier(&b.kind) {
                issues.push(Issue {
                    path: "backend.type".into(),
                    message: format!("`{}` is not a backend type", b.kind),
                });
            }
            for k in b.config.keys() {
                if !is_identifier(k) {
                    issues.push(Issue {
                        path: format!("backend.config.{k}"),
                        message: format!("`{k}` is not a valid setting name"),
                    });
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::issues(issues))
        }
    }

    /// The Job `<name>-apply` gets a `job-name` label holding its name, and a label value is
    /// at most 63 characters: a longer app name would render a Job the API server refuses.
    fn validate_application(&self, app: &Application<TerraformConfig>) -> Result<(), Error> {
        let job = format!("{}-apply", app.metadata.name);
        if job.len() > 63 {
            return Err(Error::field(
                "metadata.name",
                format!(
                    "at most 57 characters (this one has {}): the Job `<name>-apply` is labelled \
                     with its own name, and a label value is at most 63 characters",
                    app.metadata.name.len()
                ),
            ));
        }
        self.validate(&app.spec)
    }

    fn generate(&self, app: &Application<TerraformConfig>) -> Result<Vec<Object>, Error> {
        let name = &app.metadata.name;
        // Without a namespace the objects go wherever they are applied (kustomize's
        // `namespace:`, kubectl's -n): nothing may name `default` for them.
        let ns = app.metadata.namespace.clone();
        let spec = &app.spec;
        let files = format!("{name}-terraform");
        let sa = format!("{name}-terraform");
        let tfvars = serde_json::to_string_pretty(&spec.variables)?;

        let mut container = json!({
            "name": "terraform",
            "image": spec.image,
            "workingDir": "/workspace",
            "command": ["/bin/sh", "-c"],
            "args": ["cp /config/* /workspace/ && terraform init -input=false && terraform apply -input=false -auto-approve"],
            "env": [{ "name": "TF_IN_AUTOMATION", "value": "1" }],
            "volumeMounts": [
                { "name": "config", "mountPath": "/config", "readOnly": true },
                { "name": "workspace", "mountPath": "/workspace" }
            ],
        });
        if let Some(secret) = spec
            .backend
            .as_ref()
            .and_then(|b| b.credentials_secret.as_ref())
        {
            container["envFrom"] = json!([{ "secretRef": { "name": secret } }]);
        }
        if spec.backend.is_none() && ns.is_none() {
            // The kubernetes backend's namespace: the one the Job runs in.
            container["env"]
                .as_array_mut()
                .expect("env is a list")
                .push(json!({ "name": "KUBE_NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } }));
        }
        // A RoleBinding's ServiceAccount subject without a namespace is the binding's own.
        let mut subject = json!({ "kind": "ServiceAccount", "name": sa });
        if let Some(ns) = &ns {
            subject["namespace"] = json!(ns);
        }

        Ok(vec![
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": app.child_metadata(&sa),
            }),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": app.child_metadata(&sa),
                "rules": [
                    { "apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "patch", "delete"] },
                    { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "create", "update", "patch", "delete"] }
                ],
            }),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": app.child_metadata(&sa),
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa },
                "subjects": [subject],
            }),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": app.child_metadata(&files),
                "data": {
                    "main.tf": main_tf(spec, name, ns.as_deref()),
                    "terraform.tfvars.json": tfvars,
                },
            }),
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": app.child_metadata(&format!("{name}-apply")),
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": { "labels": { "app": name } },
                        "spec": {
                            "serviceAccountName": sa,
                            "restartPolicy": "Never",
                            "containers": [container],
                            "volumes": [
                                { "name": "config", "configMap": { "name": files } },
                                { "name": "workspace", "emptyDir": {} }
                            ],
                        },
                    },
                },
            }),
        ])
    }

    fn documentation(&self) -> Documentation {
        Documentation {
            documentation: "Runs a Terraform module inside the cluster. Generates a ConfigMap with \
                            `main.tf` and `terraform.tfvars.json`, a Job that runs `terraform init` and \
                            `terraform apply` on them, and a ServiceAccount with a Role and RoleBinding \
                            for the Job. Backend credentials come from the Secret named in \
                            `backend.credentialsSecret`; without a backend, state is kept in a Secret \
                            through Terraform's kubernetes backend."
                .to_owned(),
            examples: vec![
                Example::new("s3-backend", "A registry module with an S3 backend and credentials from a Secret", include_str!("../../../examples/terraform-network.yaml")),
                Example::new("module-source", "The module named by its source alone, with an S3 backend", include_str!("../../../examples/terraform-infrastructure.yaml")),
                Example::new("kubernetes-backend", "A local module with state kept in the cluster", include_str!("../../../examples/terraform-dns.yaml")),
            ],
            usage_guide: "Name the module: `module: ./terraform/modules/vpc`, or `module.source` with an \
                          optional `module.version` for a registry module. Give its \
                          `variables`, and choose a `backend`. Put backend credentials in a Secret and \
                          name it in `backend.credentialsSecret`; its keys become environment variables \
                          of the Job."
                .to_owned(),
        }
    }
}

export_plugin! {
    name: "terraform-generator",
    version: env!("CARGO_PKG_VERSION"),
    description: "Generates Kubernetes Jobs that run Terraform configurations",
    author: "Example Corp <plugins@example.com>",
    generators: [TerraformGenerator],
}

#[cfg(test)]
mod tests {
    use super::*;
    use kure_plugin_api::testing::{self, Problems};

    const NETWORK: &str = include_str!("../../../examples/terraform-network.yaml");
    const DNS: &str = include_str!("../../../examples/terraform-dns.yaml");
    const INFRASTRUCTURE: &str = include_str!("../../../examples/terraform-infrastructure.yaml");

    fn generate(yaml: &str) -> Vec<Value> {
        testing::generate::<TerraformGenerator>(yaml).expect("generates")
    }

    fn problems(yaml: &str) -> Problems {
        testing::validate::<TerraformGenerator>(yaml).expect_err("invalid")
    }

    #[test]
    fn every_documented_example_validates_and_generates() {
        testing::check_examples::<TerraformGenerator>();
    }

    #[test]
    fn generates_the_five_objects_with_backend_credentials() {
        let objs = generate(NETWORK);
        let kinds: Vec<&str> = objs
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"]
        );
        let main = objs[3]["data"]["main.tf"].as_str().expect("main.tf");
        assert!(main.contains("backend \"s3\""), "{main}");
        assert!(main.contains("bucket = \"example-tfstate\""), "{main}");
        assert!(main.contains("required_version = \">= 1.6.0\""), "{main}");
        assert!(main.contains("cidr = var.cidr"), "{main}");
        let job = &objs[4];
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"],
            "aws-credentials"
        );
        assert_eq!(job["metadata"]["namespace"], "infra");
        assert_eq!(objs[2]["subjects"][0]["namespace"], "infra");
    }

    /// Issue 30: without a namespace in the spec, the RoleBinding named `default` as its
    /// ServiceAccount's namespace (and the state went to `default`), wherever the objects
    /// were applied.
    #[test]
    fn without_a_namespace_nothing_names_default() {
        let objs = generate(DNS);
        assert!(objs[0]["metadata"].get("namespace").is_none());
        assert_eq!(
            objs[2]["subjects"][0],
            json!({"kind": "ServiceAccount", "name": "dns-records-terraform"})
        );
        let main = objs[3]["data"]["main.tf"].as_str().expect("main.tf");
        assert!(!main.contains("namespace"), "{main}");
        let env = &objs[4]["spec"]["template"]["spec"]["containers"][0]["env"];
        assert!(
            env.as_array()
                .expect("env")
                .iter()
                .any(|e| e["name"] == "KUBE_NAMESPACE"
                    && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
            "{env}"
        );
        assert!(!serde_json::to_string(&objs)
            .expect("json")
            .contains("\"default\""));
    }

    /// Issue 29: a rule on the app's name is checked by `validate` too, on `metadata.name`.
    #[test]
    fn a_name_too_long_for_the_job_label_is_refused_by_validate_and_generate() {
        let long = "n".repeat(58);
        let yaml = DNS.replace("name: dns-records", &format!("name: {long}"));
        assert_ne!(yaml, DNS);
        let want = "metadata.name: at most 57 characters (this one has 58)";
        assert!(
            problems(&yaml).to_string().starts_with(want),
            "{}",
            problems(&yaml)
        );
        let generated = testing::generate::<TerraformGenerator>(&yaml).expect_err("too long");
        assert!(generated.to_string().starts_with(want), "{generated}");
        let fits = DNS.replace("name: dns-records", &format!("name: {}", "n".repeat(57)));
        assert_eq!(
            generate(&fits)[4]["metadata"]["name"]
                .as_str()
                .map(str::len),
            Some(63)
        );
    }

    #[test]
    fn default_backend_keeps_state_in_cluster() {
        let objs = generate(DNS);
        let main = objs[3]["data"]["main.tf"].as_str().expect("main.tf");
        assert!(main.contains("backend \"kubernetes\""), "{main}");
        assert!(objs[4]["spec"]["template"]["spec"]["containers"][0]
            .get("envFrom")
            .is_none());
    }

    #[test]
    fn module_is_a_source_string_or_an_object() {
        let main = |yaml: &str| {
            generate(yaml)[3]["data"]["main.tf"]
                .as_str()
                .expect("main.tf")
                .to_owned()
        };
        let tf = main(INFRASTRUCTURE);
        assert!(
            tf.contains("source = \"./terraform/modules/vpc\"\n  environment"),
            "{tf}"
        );
        assert!(!tf.contains("version ="), "{tf}");
        let object = INFRASTRUCTURE.replace(
            "module: \"./terraform/modules/vpc\"",
            "module: {source: ./m, version: 1.2.3}",
        );
        assert!(main(&object).contains("source = \"./m\"\n  version = \"1.2.3\""));
        let blank = INFRASTRUCTURE.replace("\"./terraform/modules/vpc\"", "\" \"");
        assert_eq!(
            problems(&blank).to_string(),
            "spec.module: module source must not be empty"
        );
    }

    #[test]
    fn the_schema_kure_enforces_names_the_field() {
        let typo = DNS.replace("    source: ./modules/dns", "    sorce: ./modules/dns");
        assert!(
            problems(&typo)
                .to_string()
                .contains("spec.module.sorce: unknown field `sorce`: did you mean `source`?"),
            "{}",
            problems(&typo)
        );
        let number = INFRASTRUCTURE.replace("\"./terraform/modules/vpc\"", "5");
        assert_eq!(
            problems(&number).to_string(),
            "spec.module: expected string or object, found integer `5`"
        );
    }

    #[test]
    fn rejects_bad_variable_names() {
        let bad = DNS.replace("    zone: example.com", "    bad name: 1");
        assert_eq!(
            problems(&bad).0,
            ["spec.variables.bad name: `bad name` is not a Terraform identifier (letters, digits, `_`, `-`; starting with a letter)"]
        );
    }
}

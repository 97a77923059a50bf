//! A plugin GVK served by its workers, as the same generator trait built-ins implement.

use kure_plugin_api::abi::ErrorKind;
use std::sync::Arc;

use kure_plugin_api::abi::ErrorPayload;

use crate::plugin::json::json_text;
use kure_plugin_api::host::DynGenerator;
use kure_plugin_api::sdk::Documentation;
use serde_json::Value;

use super::*;

/// One GVK of a plugin in process isolation.
pub(super) struct WorkerGenerator {
    pub(super) plugin: Arc<WorkerPlugin>,
    pub(super) api_version: String,
    pub(super) kind: String,
}

pub(super) fn first<T>(mut results: Vec<Result<T, ErrorPayload>>) -> Result<T, ErrorPayload> {
    results
        .pop()
        .unwrap_or_else(|| Err(payload(ErrorKind::Internal, "no result".to_owned())))
}

impl DynGenerator for WorkerGenerator {
    fn api_version(&self) -> &str {
        &self.api_version
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        self.plugin.json_schema(&self.api_version, &self.kind)
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        self.validate_json(&json_text(spec))
    }

    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        first(
            self.plugin
                .validate_batch(&self.api_version, &self.kind, &[spec.to_owned()]),
        )
    }

    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        first(
            self.plugin
                .generate_batch(&self.api_version, &self.kind, &[json_text(app)]),
        )
    }

    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        first(
            self.plugin
                .generate_batch_json(&self.api_version, &self.kind, &[request.to_owned()]),
        )
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        self.plugin.documentation(&self.api_version, &self.kind)
    }

    fn prefers_batches(&self) -> bool {
        true
    }

    fn generate_validates(&self) -> bool {
        crate::plugin::adapter::generates_validated(&self.plugin.abi_info)
    }

    fn validate_batch(&self, specs: &[&Value]) -> Vec<Result<(), ErrorPayload>> {
        let specs: Vec<String> = specs.iter().map(|s| json_text(s)).collect();
        self.plugin
            .validate_batch(&self.api_version, &self.kind, &specs)
    }

    fn validate_application(&self, app: &Value) -> Result<(), ErrorPayload> {
        first(self.validate_application_batch(&[app]))
    }

    /// The worker hands each request to the plugin's validator as it is: whole documents to a
    /// plugin whose validator takes them, specs to an older one.
    fn validate_application_batch(&self, apps: &[&Value]) -> Vec<Result<(), ErrorPayload>> {
        let whole = kure_plugin_api::abi::validates_applications(&self.plugin.abi_info);
        let requests: Vec<String> = apps
            .iter()
            .map(|a| crate::plugin::json::validator_text(a, whole))
            .collect();
        self.plugin
            .validate_batch(&self.api_version, &self.kind, &requests)
    }

    fn generate_batch_json(&self, apps: &[&Value]) -> Vec<Result<String, ErrorPayload>> {
        let apps: Vec<String> = apps.iter().map(|a| json_text(a)).collect();
        self.plugin
            .generate_batch_json(&self.api_version, &self.kind, &apps)
    }
}

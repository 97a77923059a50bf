//! The messages host and worker exchange: the handshake, requests and outcomes.

use std::borrow::Cow;

use kure_plugin_api::abi::{AbiInfo, ErrorKind, ErrorPayload};

use serde::{Deserialize, Serialize};

/// The host's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Hello {
    pub(super) protocol: u32,
    pub(super) kure: String,
}

/// A plugin's metadata, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// One line about what it generates.
    pub description: String,
    /// Who wrote it.
    pub author: String,
}

/// A GVK a plugin registered a generator for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginGvk {
    /// `group/version`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
}

/// The worker's answer to the handshake when the plugin is loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Ready {
    pub(super) protocol: u32,
    pub(super) kure: String,
    pub(super) abi_info: AbiInfo,
    pub(super) plugin: PluginInfo,
    pub(super) gvks: Vec<PluginGvk>,
}

/// The worker's answer to the handshake when it cannot serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Refused {
    pub(super) error: ErrorPayload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) protocol: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) kure: Option<String>,
}

/// One request of the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(super) enum Request<'a> {
    Schema {
        api_version: Cow<'a, str>,
        kind: Cow<'a, str>,
    },
    Docs {
        api_version: Cow<'a, str>,
        kind: Cow<'a, str>,
    },
    Initialize,
    Health,
    Shutdown,
}

/// `{"ok": T}` or `{"err": ErrorPayload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Outcome<T> {
    Ok(T),
    Err(ErrorPayload),
}

impl<T> From<Result<T, ErrorPayload>> for Outcome<T> {
    fn from(r: Result<T, ErrorPayload>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl<T> From<Outcome<T>> for Result<T, ErrorPayload> {
    fn from(o: Outcome<T>) -> Self {
        match o {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Failure {
    pub(super) error: ErrorPayload,
}

/// How long `initialize` (with its first `health_check`) took in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitTimings {
    /// Microseconds.
    pub initialize_us: u64,
}

/// How long a `health_check` took in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthTimings {
    /// Microseconds.
    pub health_check_us: u64,
}

pub(super) fn payload(kind: ErrorKind, message: String) -> ErrorPayload {
    ErrorPayload::new(kind, message)
}

//! The plugin side of the ABI: adapters from SDK types to the `abi` traits.
//!
//! Every function here that the host can call catches panics: a panic that unwinds into an
//! `abi_stable` boundary ends the whole host process.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString, RVec};

use super::{Error, Generator};
use crate::abi::ErrorKind;
use crate::abi::{
    error_text, AbiGvk, AbiInfo, DocumentationProvider, DocumentationProviderBox,
    DocumentationProvider_TO, ErrorPayload, GeneratorBox, Generator_TO, Plugin, PluginBox,
    PluginMetadata, PluginMod, PluginModRef, Plugin_TO, RegistryMut, Requires, Validator,
    ValidatorBox, Validator_TO,
};
use crate::host::{erase, erase_as, payload, DynGenerator};

/// A lifecycle hook: it gets the plugin's state.
type Hook<S> = Box<dyn Fn(&S) -> Result<(), Error> + Send + Sync>;

/// Describes a plugin: metadata, generators, its state and optional lifecycle hooks.
///
/// [`export_plugin!`](crate::export_plugin) builds one for you; use it directly (with
/// `export_plugin! { builder: my_fn }`) when you need hooks or state.
///
/// The state `S` is the plugin's own (a connection pool, a cache, counters): created with
/// [`with_state`](PluginBuilder::with_state), given to every lifecycle hook, and shared with
/// the generators that hold a clone of the same `Arc`. [`new`](PluginBuilder::new) makes a
/// plugin without state (`S = ()`).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use kure_plugin_api::sdk::{Error, PluginBuilder};
///
/// struct Conn { open: AtomicBool }
/// let state = Arc::new(Conn { open: AtomicBool::new(false) });
/// let builder = PluginBuilder::with_state("db", "1.0.0", "Database objects", "Example", state)
///     .on_initialize(|c: &Conn| { c.open.store(true, Ordering::SeqCst); Ok(()) })
///     .on_health_check(|c: &Conn| {
///         if c.open.load(Ordering::SeqCst) { Ok(()) } else { Err(Error::msg("not connected")) }
///     })
///     .on_shutdown(|c: &Conn| { c.open.store(false, Ordering::SeqCst); Ok(()) });
/// # let _ = builder;
/// ```
pub struct PluginBuilder<S: Send + Sync + 'static = ()> {
    metadata: [String; 4],
    generators: Vec<Arc<dyn DynGenerator>>,
    state: Arc<S>,
    on_initialize: Option<Hook<S>>,
    on_shutdown: Option<Hook<S>>,
    on_health_check: Option<Hook<S>>,
}

impl<S: Send + Sync + 'static> std::fmt::Debug for PluginBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginBuilder")
            .field("metadata", &self.metadata)
            .field("generators", &self.generators.len())
            .finish()
    }
}

impl PluginBuilder<()> {
    /// A plugin with this name, version, description and author, and no state.
    pub fn new(name: &str, version: &str, description: &str, author: &str) -> Self {
        Self::with_state(name, version, description, author, Arc::new(()))
    }
}

impl<S: Send + Sync + 'static> PluginBuilder<S> {
    /// A plugin with this name, version, description and author, and `state`: what its
    /// lifecycle hooks are given (its generators may hold clones of the `Arc`).
    pub fn with_state(
        name: &str,
        version: &str,
        description: &str,
        author: &str,
        state: Arc<S>,
    ) -> Self {
        Self {
            metadata: [name, version, description, author].map(str::to_owned),
            generators: Vec::new(),
            state,
            on_initialize: None,
            on_shutdown: None,
            on_health_check: None,
        }
    }

    /// The plugin's state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Adds a generator.
    pub fn generator<G: Generator>(mut self, generator: G) -> Self {
        self.generators.push(erase(generator));
        self
    }

    /// Runs `hook` with the plugin's state when the host initializes the plugin (before the
    /// first generation). An `Err` refuses the plugin, with the message.
    pub fn on_initialize(
        mut self,
        hook: impl Fn(&S) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.on_initialize = Some(Box::new(hook));
        self
    }

    /// Runs `hook` with the plugin's state when the host shuts the plugin down (at the end of
    /// a run). Shutdown reports nothing back across the ABI: an `Err` (or a panic) is caught
    /// and dropped, so release what you hold and do not rely on an error being seen.
    pub fn on_shutdown(
        mut self,
        hook: impl Fn(&S) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.on_shutdown = Some(Box::new(hook));
        self
    }

    /// Runs `hook` with the plugin's state when the host checks the plugin's health (`kure
    /// plugins status`, and after initialization). An `Err` marks the plugin unhealthy;
    /// without a hook it is healthy.
    pub fn on_health_check(
        mut self,
        hook: impl Fn(&S) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.on_health_check = Some(Box::new(hook));
        self
    }

    /// Adds a generator under a GVK chosen at run time (`api_version` is `group/version`)
    /// instead of its `API_VERSION` and `KIND`: one generator type can serve several GVKs,
    /// say two versions of one kind, or GVKs read from configuration when the plugin is built.
    pub fn generator_as<G: Generator>(
        mut self,
        api_version: &str,
        kind: &str,
        generator: G,
    ) -> Self {
        self.generators.push(erase_as(generator, api_version, kind));
        self
    }

    /// The generators added so far (for unit tests that call them without a library).
    pub fn generators(&self) -> &[Arc<dyn DynGenerator>] {
        &self.generators
    }
}

fn gvk(api_version: &str, kind: &str) -> AbiGvk {
    AbiGvk {
        api_version: api_version.into(),
        kind: kind.into(),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

thread_local! {
    static PANIC_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replaces the plugin's panic hook (a cdylib has its own copy of std, so this does not touch
/// the host's) with one that records where the panic happened instead of printing: the
/// location goes into the structured error the host reports.
fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_LOCATION.with(|c| *c.borrow_mut() = at);
        }));
    });
}

/// Runs `f`, turning a panic into an `ErrorPayload` of kind `panic`.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, ErrorPayload>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e.to_rstring()),
        Err(p) => {
            let at = PANIC_LOCATION
                .with(|c| c.borrow_mut().take())
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            RErr(
                ErrorPayload {
                    kind: ErrorKind::Panic,
                    message: format!("{what} panicked{at}: {}", panic_message(p.as_ref())),
                    issues: Vec::new(),
                }
                .to_rstring(),
            )
        }
    }
}

fn internal(message: String) -> ErrorPayload {
    ErrorPayload {
        kind: ErrorKind::Internal,
        message,
        issues: Vec::new(),
    }
}

struct SdkPlugin<S: Send + Sync + 'static>(PluginBuilder<S>);

impl<S: Send + Sync + 'static> Plugin for SdkPlugin<S> {
    fn metadata(&self) -> PluginMetadata {
        let [name, version, description, author] = &self.0.metadata;
        PluginMetadata {
            name: name.as_str().into(),
            version: version.as_str().into(),
            description: description.as_str().into(),
            author: author.as_str().into(),
        }
    }

    fn supported_gvks(&self) -> RVec<AbiGvk> {
        self.0
            .generators
            .iter()
            .map(|g| gvk(g.api_version(), g.kind()))
            .collect()
    }

    fn register(&self, registry: &mut RegistryMut<'_>) -> RResult<(), RString> {
        guarded("register", || {
            for g in &self.0.generators {
                let id = gvk(g.api_version(), g.kind());
                let gen: GeneratorBox =
                    Generator_TO::from_value(AbiGenerator(g.clone()), TD_Opaque);
                let val: ValidatorBox =
                    Validator_TO::from_value(AbiGenerator(g.clone()), TD_Opaque);
                let docs: DocumentationProviderBox =
                    DocumentationProvider_TO::from_value(AbiGenerator(g.clone()), TD_Opaque);
                registry
                    .register_generator(id.clone(), gen)
                    .into_result()
                    .map_err(|e| internal(e.into()))?;
                registry
                    .register_validator(id.clone(), val)
                    .into_result()
                    .map_err(|e| internal(e.into()))?;
                registry
                    .register_documentation(id, docs)
                    .into_result()
                    .map_err(|e| internal(e.into()))?;
            }
            Ok(())
        })
    }

    fn initialize(&mut self) -> RResult<(), RString> {
        guarded("initialize", || match &self.0.on_initialize {
            Some(hook) => hook(&self.0.state).map_err(|e| payload(ErrorKind::Initialize, e)),
            None => Ok(()),
        })
    }

    fn shutdown(&mut self) {
        // Nothing can be reported from shutdown; a panic must still not cross the boundary.
        let _ = guarded("shutdown", || match &self.0.on_shutdown {
            Some(hook) => hook(&self.0.state).map_err(|e| payload(ErrorKind::Shutdown, e)),
            None => Ok(()),
        });
    }

    fn health_check(&self) -> RResult<(), RString> {
        guarded("health_check", || match &self.0.on_health_check {
            Some(hook) => hook(&self.0.state).map_err(|e| payload(ErrorKind::HealthCheck, e)),
            None => Ok(()),
        })
    }
}

struct AbiGenerator(Arc<dyn DynGenerator>);

impl crate::abi::Generator for AbiGenerator {
    fn generate(&self, request: RStr<'_>) -> RResult<RString, RString> {
        guarded("generate", || {
            self.0.generate_json(request.as_str()).map(RString::from)
        })
    }
}

impl Validator for AbiGenerator {
    fn json_schema(&self) -> RString {
        text_result(guarded("json_schema", || {
            Ok(RString::from(self.0.json_schema()?.to_string()))
        }))
    }

    fn validate(&self, spec: RStr<'_>) -> RResult<(), RString> {
        guarded("validate", || self.0.validate_request(spec.as_str()))
    }
}

/// A text result, or the error it became, encoded as [`crate::abi::error_text`].
fn text_result(r: RResult<RString, RString>) -> RString {
    match r {
        ROk(text) => text,
        RErr(payload) => error_text(&ErrorPayload::from_str_lossy(&payload)),
    }
}

impl DocumentationProvider for AbiGenerator {
    fn documentation(&self) -> RString {
        text_result(guarded("documentation", || {
            Ok(RString::from(self.0.documentation()?.documentation))
        }))
    }

    fn examples(&self) -> RString {
        text_result(guarded("examples", || {
            serde_json::to_string(&self.0.documentation()?.examples)
                .map(RString::from)
                .map_err(|e| internal(e.to_string()))
        }))
    }

    fn usage_guide(&self) -> RString {
        text_result(guarded("usage_guide", || {
            Ok(RString::from(self.0.documentation()?.usage_guide))
        }))
    }
}

/// `PluginMod::abi_info` of an SDK plugin that requires nothing.
pub extern "C" fn abi_info() -> RString {
    abi_info_requiring(Requires::default)
}

/// `PluginMod::abi_info` of an SDK plugin that declares `requires`. A panicking `requires`
/// expression gives an empty text, which the host refuses as not JSON.
pub fn abi_info_requiring(requires: impl FnOnce() -> Requires) -> RString {
    let Ok(requires) = catch_unwind(AssertUnwindSafe(requires)) else {
        return RString::new();
    };
    let mut info = AbiInfo::sdk();
    info.requires = requires;
    serde_json::to_string(&info)
        .map(RString::from)
        .unwrap_or_default()
}

/// Builds the plugin object, catching a panicking builder.
pub fn new_plugin<S: Send + Sync + 'static>(
    builder: fn() -> PluginBuilder<S>,
) -> RResult<PluginBox, RString> {
    install_quiet_panic_hook();
    guarded("plugin constructor", || {
        Ok(Plugin_TO::from_value(SdkPlugin(builder()), TD_Opaque))
    })
}

/// The root module of an SDK plugin that requires nothing (what `export_plugin!` of 1.0 to
/// 1.3 expands to).
pub fn root_module(new_plugin: extern "C" fn() -> RResult<PluginBox, RString>) -> PluginModRef {
    root_module_with(new_plugin, abi_info)
}

/// The root module of an SDK plugin, with its own `abi_info` (which carries `requires`).
pub fn root_module_with(
    new_plugin: extern "C" fn() -> RResult<PluginBox, RString>,
    abi_info: extern "C" fn() -> RString,
) -> PluginModRef {
    PluginMod {
        abi_info,
        new_plugin,
    }
    .leak_into_prefix()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counter(AtomicUsize);

    /// What the shutdown hook saw.
    static AT_SHUTDOWN: AtomicUsize = AtomicUsize::new(0);

    fn builder() -> PluginBuilder<Counter> {
        PluginBuilder::with_state(
            "t",
            "1.0.0",
            "d",
            "a",
            Arc::new(Counter(AtomicUsize::new(7))),
        )
        .on_initialize(|c: &Counter| {
            c.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .on_health_check(|c: &Counter| match c.0.load(Ordering::SeqCst) {
            8 => Ok(()),
            n => Err(Error::msg(format!("state is {n}"))),
        })
        .on_shutdown(|c: &Counter| {
            AT_SHUTDOWN.store(c.0.load(Ordering::SeqCst), Ordering::SeqCst);
            Ok(())
        })
    }

    struct Echo;

    impl Generator for Echo {
        type Config = serde_json::Value;
        const API_VERSION: &'static str = "a.example.com/v1";
        const KIND: &'static str = "Echo";

        fn generate(
            &self,
            app: &super::super::Application<Self::Config>,
        ) -> Result<Vec<super::super::Object>, Error> {
            Ok(vec![serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": app.metadata.name},
                "data": {"from": format!("{}/{}", app.api_version, app.kind)},
            })])
        }
    }

    fn two_versions() -> PluginBuilder {
        PluginBuilder::new("echo", "1.0.0", "d", "a")
            .generator(Echo)
            .generator_as("a.example.com/v2", "Echo", Echo)
            .generator_as("b.example.com/v1", "Other", Echo)
    }

    /// `abi_info` carries what the plugin declares; a panicking declaration gives an empty
    /// text (which a host refuses as not JSON) instead of unwinding into it.
    #[test]
    fn abi_info_carries_requires_and_survives_a_panic() {
        let text = abi_info_requiring(|| Requires::new().kure(">=0.1").plugin("b", "^1"));
        let info: AbiInfo = serde_json::from_str(&text).unwrap();
        assert_eq!(info.requires.kure.as_deref(), Some(">=0.1"));
        assert_eq!(info.requires.plugins[0].name, "b");
        assert_eq!(info.features, AbiInfo::sdk().features);
        let plain: AbiInfo = serde_json::from_str(&abi_info()).unwrap();
        assert!(plain.requires.is_empty());
        assert!(!abi_info().contains("requires"));
        assert!(abi_info_requiring(|| panic!("a broken declaration")).is_empty());
    }

    #[test]
    fn one_generator_type_serves_gvks_chosen_at_run_time() {
        let plugin = new_plugin(two_versions).into_result().expect("constructed");
        let gvks: Vec<String> = plugin
            .supported_gvks()
            .iter()
            .map(|g| format!("{}/{}", g.api_version, g.kind))
            .collect();
        assert_eq!(
            gvks,
            [
                "a.example.com/v1/Echo",
                "a.example.com/v2/Echo",
                "b.example.com/v1/Other"
            ]
        );
        let builder = two_versions();
        let other = &builder.generators()[2];
        let app = serde_json::json!({
            "apiVersion": "b.example.com/v1", "kind": "Other",
            "metadata": {"name": "x"}, "spec": {"any": 1},
        });
        let objects = other.generate(&app).expect("generated");
        assert_eq!(objects[0]["data"]["from"], "b.example.com/v1/Other");
        let guide = other.documentation().expect("docs").usage_guide;
        assert!(
            guide.contains("`apiVersion: b.example.com/v1`, `kind: Other`"),
            "{guide}"
        );
        assert!(other.json_schema().is_ok());
    }

    #[test]
    fn lifecycle_hooks_get_the_plugins_state_through_the_abi() {
        let mut plugin = new_plugin(builder).into_result().expect("constructed");
        // Before initialize the state is as built; the health hook sees it.
        let before = plugin.health_check().into_result().expect_err("not yet");
        assert!(before.as_str().contains("state is 7"), "{before}");
        plugin.initialize().into_result().expect("initialized");
        plugin.health_check().into_result().expect("healthy");
        plugin.shutdown();
        assert_eq!(AT_SHUTDOWN.load(Ordering::SeqCst), 8);
    }
}

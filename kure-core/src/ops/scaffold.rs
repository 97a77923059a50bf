//! `kure plugins new`: a standalone plugin crate to start from, whose `cargo test` passes as
//! written (its test uses `kure_plugin_api::testing`, kure's own checks).
//!
//! Every input becomes code, so each is checked before anything is written: the plugin name
//! is a crate name, the group a DNS subdomain, the version a Kubernetes API version, the kind a
//! Rust type name. The crate is written into a temporary directory beside the destination and
//! renamed into place: an error leaves nothing behind.

use std::path::{Path, PathBuf};

use crate::model::error::Error;

/// What to scaffold.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// Plugin and crate name, e.g. `redis-cache`.
    pub name: String,
    /// API group, e.g. `cache.example.com`.
    pub group: String,
    /// API version, e.g. `v1alpha1`.
    pub version: String,
    /// Kind, e.g. `RedisCache`.
    pub kind: String,
    /// Depend on kure-plugin-api at this path instead of by version.
    pub api_path: Option<PathBuf>,
}

const RUST_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
];

fn bad(what: &str, value: &str, rule: &str) -> Error {
    Error::Store(format!(
        "{what} `{}` cannot be used: {rule}",
        crate::util::shown(value)
    ))
}

impl NewPlugin {
    /// Parses `GROUP/VERSION/KIND` (e.g. `cache.example.com/v1alpha1/RedisCache`) and checks
    /// every part, and the name.
    pub fn new(name: &str, gvk: &str, api_path: Option<PathBuf>) -> Result<Self, Error> {
        let name_ok = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !RUST_KEYWORDS.contains(&name.replace('-', "_").as_str());
        if !name_ok {
            return Err(bad(
                "plugin name",
                name,
                "use lower-case letters, digits and `-`, starting with a letter (it is the crate name too), e.g. `redis-cache`",
            ));
        }
        let parts: Vec<&str> = gvk.split('/').collect();
        let [group, version, kind] = parts.as_slice() else {
            return Err(bad(
                "--gvk",
                gvk,
                "write GROUP/VERSION/KIND, e.g. `cache.example.com/v1alpha1/RedisCache`",
            ));
        };
        if !group.contains('.') || !crate::util::is_dns_subdomain(group) {
            return Err(bad(
                "group",
                group,
                "use a DNS name you own, with at least one dot, e.g. `cache.example.com`",
            ));
        }
        let version_ok = version.strip_prefix('v').is_some_and(|rest| {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            let tail = &rest[digits..];
            digits > 0
                && !rest.starts_with('0')
                && (tail.is_empty()
                    || ["alpha", "beta"].iter().any(|p| {
                        tail.strip_prefix(p).is_some_and(|n| {
                            !n.is_empty()
                                && !n.starts_with('0')
                                && n.chars().all(|c| c.is_ascii_digit())
                        })
                    }))
        });
        if !version_ok {
            return Err(bad(
                "version",
                version,
                "use a Kubernetes API version: v1, v2beta1, v1alpha1",
            ));
        }
        let kind_ok = kind.len() <= 63
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphanumeric());
        if !kind_ok {
            return Err(bad(
                "kind",
                kind,
                "use an upper-camel-case name of letters and digits, e.g. `RedisCache`",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            group: (*group).to_owned(),
            version: (*version).to_owned(),
            kind: (*kind).to_owned(),
            api_path,
        })
    }

    /// The crate's library name (`redis_cache`): the built library is `lib<this>.so`.
    pub fn lib_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// Every file of the crate, relative to its directory.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        // Cargo.toml names a version only, so the crate travels (to a colleague, to CI, to a
        // repository); a machine's kure checkout is named in `.cargo/config.toml`, which the
        // crate's .gitignore keeps to that machine.
        let api_req: String = kure_plugin_api::VERSION
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let api_dep = format!("\"{api_req}\"");
        let api_dev_dep = format!("{{ version = \"{api_req}\", features = [\"testing\"] }}");
        let lib = self.lib_name();
        let kind_lower = self.kind.to_ascii_lowercase();
        // The kure this plugin is made with (major.minor), the floor its `requires` declares.
        let kure_min: String = crate::plugin::process::KURE_VERSION
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let values: [(&str, &str); 9] = [
            ("NAME", &self.name),
            ("LIB", &lib),
            ("GROUP", &self.group),
            ("VERSION", &self.version),
            ("KIND", &self.kind),
            ("kind", &kind_lower),
            ("API_DEP", &api_dep),
            ("API_DEV_DEP", &api_dev_dep),
            ("KURE_MIN", &kure_min),
        ];
        let fill = |template: &str| fill(template, &values);
        let local = self.api_path.as_ref().map(|p| {
            (
                PathBuf::from(".cargo/config.toml"),
                LOCAL_CONFIG.replace("{API_PATH}", &toml_string(&p.display().to_string())),
            )
        });
        [
            ("Cargo.toml", CARGO_TOML),
            ("src/lib.rs", LIB_RS),
            ("tests/spec.rs", TEST_RS),
            ("docs/{kind}.md", DOCS_MD),
            ("docs/usage.md", USAGE_MD),
            ("examples/minimal.yaml", MINIMAL_YAML),
            ("examples/scaled.yaml", SCALED_YAML),
            ("README.md", README_MD),
            (".gitignore", GITIGNORE),
        ]
        .into_iter()
        .map(|(path, text)| (PathBuf::from(fill(path)), fill(text)))
        .chain(local)
        .collect()
    }

    /// Writes the crate to `dir`, which must not exist or be empty: into a temporary directory
    /// beside it first, then renamed into place.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let io = |p: &Path, e: std::io::Error| Error::io(p, e);
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| io(dir, e))?
                .next()
                .is_some()
        {
            return Err(Error::Store(format!(
                "{} exists and is not empty; choose another --dir (nothing was written)",
                dir.display()
            )));
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".kure-new-")
            .tempdir_in(&parent)
            .map_err(|e| io(&parent, e))?;
        for (rel, text) in self.files() {
            let path = staging.path().join(&rel);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(|e| io(p, e))?;
            }
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary directory is private (0700); a crate is not.
            std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io(staging.path(), e))?;
        }
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(|e| io(dir, e))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            io(dir, e)
        })
    }
}

/// `template` with each `{NAME}` whose name is in `values` replaced, in one pass: a value is
/// never read for placeholders itself (an `--api-path` holding `{API_DEV_DEP}` stays text).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let hit = values.iter().find(|(k, _)| {
            tail.strip_prefix(k)
                .is_some_and(|after| after.starts_with('}'))
        });
        match hit {
            Some((k, v)) => {
                out.push_str(v);
                rest = &tail[k.len() + 1..];
            }
            None => {
                out.push('{');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The kure-plugin-api of the source tree this kure was built from, when it is still there,
/// is this kure's version, and belongs to the user running kure (a tree another user can
/// write into would run their code in this user's `cargo test`).
pub fn built_from_api_path(candidate: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::canonicalize(candidate).ok()?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let version_line = format!("version = \"{}\"", kure_plugin_api::VERSION);
    if !manifest.lines().any(|l| l.trim() == version_line) {
        return None;
    }
    let me = rustix::process::getuid().as_raw();
    for p in [dir.as_path(), &dir.join("Cargo.toml"), &dir.join("src")] {
        let meta = std::fs::metadata(p).ok()?;
        if meta.uid() != me || meta.mode() & 0o022 != 0 {
            return None;
        }
    }
    Some(dir)
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const GITIGNORE: &str = "/target
*.sig
# Private keys (`kure plugins keygen` writes NAME.key.pem).
*.key.pem
# Where this machine's kure-plugin-api is: the machine's own, never shared.
/.cargo/config.toml
";

/// `.cargo/config.toml` of a crate scaffolded beside a kure checkout (`{API_PATH}` is filled
/// alone, as a TOML string: a path is never read for placeholders).
const LOCAL_CONFIG: &str = r#"# This machine's kure-plugin-api, from a kure checkout: Cargo.toml asks for a version
# (which crates.io does not have yet), and this patch answers it with the checkout. The file
# is this machine's own (.gitignore keeps it out of the repository). On another machine, write
# the same lines with the path of that machine's checkout, or run
#   kure plugins new NAME --gvk G/V/K --api-path PATH/kure-plugin-api
# and copy its .cargo/config.toml.
[patch.crates-io]
kure-plugin-api = { path = {API_PATH} }
"#;

const CARGO_TOML: &str = r#"[package]
name = "{NAME}"
version = "0.1.0"
edition = "2021"
description = "kure plugin: {KIND} ({GROUP}/{VERSION}) -> a Deployment"
publish = false

[lib]
# cdylib: the plugin kure loads; rlib: what tests/ link against.
crate-type = ["cdylib", "rlib"]

[dependencies]
kure-plugin-api = {API_DEP}
serde = { version = "1", features = ["derive"] }
serde_json = "1"
schemars = "1"

[dev-dependencies]
# `testing`: kure's own schema checks and messages, in `cargo test`.
kure-plugin-api = {API_DEV_DEP}

[profile.release]
# kure hashes and copies every byte of the library each time it loads it: without the symbol
# table that is about a third less.
strip = "symbols"
# Keep the default `panic = "unwind"`: with "abort" the SDK could not turn a panic into an
# error, and `export_plugin!` refuses to compile.

# A crate of its own, even inside another Cargo workspace.
[workspace]
"#;

const LIB_RS: &str = r#"//! {NAME}: a kure plugin. `{KIND}` (`{GROUP}/{VERSION}`) becomes a Deployment.

use kure_plugin_api::sdk::prelude::*;

/// A {KIND}: an image run as a Deployment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct {KIND}Spec {
    /// Container image, with a tag or digest, e.g. `redis:7.4`.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Number of pods. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 10))]
    pub replicas: u32,
    /// Port the container listens on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

fn one() -> u32 {
    1
}

/// The generator of `{KIND}`.
#[derive(Debug, Default)]
pub struct {KIND}Generator;

impl Generator for {KIND}Generator {
    type Config = {KIND}Spec;
    const API_VERSION: &'static str = "{GROUP}/{VERSION}";
    const KIND: &'static str = "{KIND}";

    /// What the schema cannot say: checked before `generate` and by `kure validate`. A rule
    /// that needs the app's name, namespace or labels goes in `fn validate_application`.
    fn validate(&self, spec: &{KIND}Spec) -> Result<(), Error> {
        if spec.image.ends_with(":latest") || !spec.image.contains([':', '@']) {
            return Err(Error::field(
                "image",
                format!("`{}` has no pinned tag or digest; write e.g. `{}:1.0`", spec.image, spec.image.trim_end_matches(":latest")),
            ));
        }
        Ok(())
    }

    fn generate(&self, app: &Application<{KIND}Spec>) -> Result<Vec<Object>, Error> {
        let name = &app.metadata.name;
        let mut container = json!({ "name": name, "image": app.spec.image });
        if let Some(port) = app.spec.port {
            container["ports"] = json!([{ "containerPort": port }]);
        }
        Ok(vec![json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": app.child_metadata(name),
            "spec": {
                "replicas": app.spec.replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [container] },
                },
            },
        })])
    }

    fn documentation(&self) -> Documentation {
        Documentation {
            documentation: include_str!("../docs/{kind}.md").trim().to_owned(),
            examples: vec![
                Example::new("minimal", "One pod", include_str!("../examples/minimal.yaml")),
                Example::new("scaled", "Three pods with a port", include_str!("../examples/scaled.yaml")),
            ],
            usage_guide: include_str!("../docs/usage.md").trim().to_owned(),
        }
    }
}

export_plugin! {
    name: "{NAME}",
    version: env!("CARGO_PKG_VERSION"),
    description: "Runs each {KIND} as a Deployment",
    author: "Your Name <you@example.com>",
    // What it needs besides itself: a range of kure versions, and, when it has them, other
    // plugins (`.plugin("name", "^1.2")`) and generators (`.gvk("group/version", "Kind")`),
    // which `kure plugins install` installs from the configured indexes.
    requires: Requires::new().kure(">={KURE_MIN}"),
    generators: [{KIND}Generator],
}
"#;

const TEST_RS: &str = r#"//! The specs of {KIND}, checked as kure checks them (`kure_plugin_api::testing`).

use kure_plugin_api::testing;
use {LIB}::{KIND}Generator;

const MINIMAL: &str = include_str!("../examples/minimal.yaml");

#[test]
fn every_documented_example_validates_and_generates() {
    testing::check_examples::<{KIND}Generator>();
}

#[test]
fn generates_a_deployment() {
    let objects = testing::generate::<{KIND}Generator>(MINIMAL).expect("valid");
    assert_eq!(objects[0]["kind"], "Deployment");
    assert_eq!(objects[0]["spec"]["replicas"], 1);
}

#[test]
fn problems_get_kures_messages() {
    let problems = |yaml: &str| {
        testing::validate::<{KIND}Generator>(yaml)
            .expect_err("invalid")
            .to_string()
    };
    let too_many = MINIMAL.replace("spec:\n", "spec:\n  replicas: 11\n");
    assert_eq!(problems(&too_many), "spec.replicas: must be at most 10, found 11");
    let typo = MINIMAL.replace("image:", "imag:");
    assert!(problems(&typo).contains("did you mean `image`?"), "{}", problems(&typo));
    let latest = MINIMAL.replace(":7.4", ":latest");
    assert!(problems(&latest).starts_with("spec.image: "), "{}", problems(&latest));
}
"#;

const DOCS_MD: &str = r#"Runs an image as a Deployment named after the application, labelled `app: <name>`, with
`replicas` pods and, when `port` is set, that container port.
"#;

const USAGE_MD: &str = r#"Write `apiVersion: {GROUP}/{VERSION}`, `kind: {KIND}`, a `metadata.name`, and a `spec`
with an `image` pinned to a tag or digest. `kure explain {KIND}` lists every field.
"#;

const MINIMAL_YAML: &str = r#"apiVersion: {GROUP}/{VERSION}
kind: {KIND}
metadata:
  name: example
spec:
  image: redis:7.4
"#;

const SCALED_YAML: &str = r#"apiVersion: {GROUP}/{VERSION}
kind: {KIND}
metadata:
  name: example-scaled
  namespace: apps
spec:
  image: redis:7.4
  replicas: 3
  port: 6379
"#;

const README_MD: &str = r#"# {NAME}

A kure plugin: `{KIND}` (`{GROUP}/{VERSION}`) becomes a Deployment.

```sh
cargo test                                   # the specs, checked as kure checks them
cargo build --release                        # target/release/lib{LIB}.so
kure --allow-unsigned --plugin target/release/lib{LIB}.so generate -f examples/   # try it

kure plugins keygen --out ~/.kure/keys/signing          # once, outside any repository
kure plugins sign target/release/lib{LIB}.so --key ~/.kure/keys/signing.key.pem
kure trust add ~/.kure/keys/signing.pub.pem             # where the plugin is used
kure plugins install target/release/lib{LIB}.so
kure generate -f examples/
```

## kure-plugin-api
`Cargo.toml` asks for `kure-plugin-api` by version, so the crate can be shared as it is.
Until kure-plugin-api is on crates.io, each machine says where its kure checkout is, in
`.cargo/config.toml` (kept out of the repository by `.gitignore`):

```toml
[patch.crates-io]
kure-plugin-api = { path = "/path/to/kure/kure-plugin-api" }
```

## Build times
The first build compiles every dependency (abi_stable, serde, schemars; for `cargo test` also
jsonschema): minutes, not seconds. Every later build compiles this crate alone. Plugins that
share one target directory compile the dependencies once between them:

```sh
export CARGO_TARGET_DIR=~/.cache/kure-plugins-target   # one target dir for all your plugins
cargo build --release    # the library is then $CARGO_TARGET_DIR/release/lib{LIB}.so
```
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_that_becomes_code_is_checked() {
        let ok = NewPlugin::new("redis-cache", "cache.example.com/v1alpha1/RedisCache", None)
            .expect("valid");
        assert_eq!(ok.lib_name(), "redis_cache");
        for (name, gvk) in [
            ("Redis", "cache.example.com/v1/RedisCache"),
            ("../x", "cache.example.com/v1/RedisCache"),
            ("fn", "cache.example.com/v1/RedisCache"),
            ("a\"b", "cache.example.com/v1/RedisCache"),
            ("redis", "cache.example.com/v1/redisCache"),
            ("redis", "cache.example.com/v1/Redis\"Cache"),
            ("redis", "cache.example.com/v1/Redis{KIND}"),
            ("redis", "cache/v1/RedisCache"),
            ("redis", "cache.example.com/1/RedisCache"),
            ("redis", "cache.example.com/v1gamma1/RedisCache"),
            ("redis", "cache.example.com/v1/Redis/Cache"),
            ("redis", "Cache.Example.com/v1/RedisCache"),
            ("redis", "cache.example.com\n/v1/RedisCache"),
        ] {
            assert!(NewPlugin::new(name, gvk, None).is_err(), "{name} {gvk}");
        }
        assert!(NewPlugin::new("redis", "cache.example.com/v2beta3/RedisCache", None).is_ok());
    }

    /// Issue 29: the scaffold's README has the author run `kure plugins keygen --out signing`
    /// in the crate: the private key it writes is ignored, as signatures and builds are, and
    /// so is the machine's own `.cargo/config.toml` (the path of its kure checkout).
    #[test]
    fn the_gitignore_keeps_private_keys_out() {
        let files = NewPlugin::new("redis-cache", "cache.example.com/v1alpha1/RedisCache", None)
            .expect("valid")
            .files();
        let ignore = &files
            .iter()
            .find(|(p, _)| p.as_os_str() == ".gitignore")
            .expect(".gitignore")
            .1;
        for rule in ["/target", "*.sig", "*.key.pem", "/.cargo/config.toml"] {
            assert!(ignore.lines().any(|l| l == rule), "{rule}: {ignore}");
        }
    }

    #[test]
    fn a_path_is_a_toml_string_and_every_placeholder_is_filled() {
        let p = NewPlugin::new(
            "redis-cache",
            "cache.example.com/v1/RedisCache",
            Some(PathBuf::from("/a \"b\"\\c")),
        )
        .expect("valid");
        let files = p.files();
        let cargo = &files[0].1;
        let version =
            &kure_plugin_api::VERSION[..kure_plugin_api::VERSION.rfind('.').expect("x.y.z")];
        assert!(
            cargo.contains(&format!("kure-plugin-api = \"{version}\"\n")),
            "{cargo}"
        );
        assert!(!cargo.contains("path"), "{cargo}");
        let config = &files
            .iter()
            .find(|(p, _)| p == Path::new(".cargo/config.toml"))
            .expect("local config")
            .1;
        assert!(
            config.contains(
                "[patch.crates-io]\nkure-plugin-api = { path = \"/a \\\"b\\\"\\\\c\" }\n"
            ),
            "{config}"
        );
        for (path, text) in &files {
            assert!(
                !text.contains("{KIND}") && !text.contains("{NAME}"),
                "{}",
                path.display()
            );
            assert!(!path.display().to_string().contains('{'));
        }
        assert!(files
            .iter()
            .any(|(p, _)| p == Path::new("docs/rediscache.md")));
    }

    #[test]
    fn placeholders_are_filled_in_one_pass() {
        let p = NewPlugin::new(
            "redis-cache",
            "cache.example.com/v1/RedisCache",
            Some(PathBuf::from("/x\", features = [] } #{API_DEV_DEP}{KIND}")),
        )
        .expect("valid");
        let files = p.files();
        let config = &files.last().expect("files").1;
        let dep = config
            .lines()
            .find(|l| l.starts_with("kure-plugin-api = "))
            .expect("dependency line");
        assert_eq!(
            dep,
            r#"kure-plugin-api = { path = "/x\", features = [] } #{API_DEV_DEP}{KIND}" }"#
        );
        assert_eq!(fill("{A}{B}{C}{", &[("A", "{B}"), ("B", "b")]), "{B}b{C}{");
    }

    #[test]
    fn writing_never_touches_a_non_empty_directory_and_leaves_nothing_on_error() {
        let t = tempfile::tempdir().expect("tmp");
        let p =
            NewPlugin::new("redis-cache", "cache.example.com/v1/RedisCache", None).expect("valid");
        let dir = t.path().join("redis-cache");
        p.write(&dir).expect("written");
        assert!(dir.join("src/lib.rs").is_file());
        let before = std::fs::read_to_string(dir.join("src/lib.rs")).expect("read");
        std::fs::write(dir.join("src/lib.rs"), "mine").expect("write");
        assert!(p.write(&dir).is_err());
        assert_eq!(
            std::fs::read_to_string(dir.join("src/lib.rs")).expect("read"),
            "mine"
        );
        assert!(before.contains("RedisCacheGenerator"));
        let left: Vec<_> = std::fs::read_dir(t.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}

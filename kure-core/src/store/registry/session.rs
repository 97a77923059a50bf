//! One conversation with a registry: the client, its TLS and proxy settings, credentials,
//! and how its errors read.

use super::pull::check_manifest;
use super::*;

/// With `--insecure` kure speaks plain HTTP to one registry on this machine and no TLS at all,
/// yet the HTTP client loads the system's whole certificate store when it is made (about
/// 300 files, 60 ms here) unless it is given certificates of its own: this one, whose key
/// was thrown away when it was made, so it can vouch for no server.
const NO_TLS_PLACEHOLDER: &str = "-----BEGIN CERTIFICATE-----
MIIBxTCCAWugAwIBAgIUbkCk/SJdIFnIXDvHwv6tAqZQBVEwCgYIKoZIzj0EAwIw
NzE1MDMGA1UEAwwsa3VyZSBwbGFpbi1IVFRQIHBsYWNlaG9sZGVyIChubyBUTFMg
aXMgdXNlZCkwIBcNMjYxMjA3MTYyMzA2WhgPMjEyNjExMTMxNjIzMDZaMDcxNTAz
BgNVBAMMLGt1cmUgcGxhaW4tSFRUUCBwbGFjZWhvbGRlciAobm8gVExTIGlzIHVz
ZWQpMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDKS5NyTg6LdC8Oa4yiUvuIzu
4MyDnE+chB3mx6fgXvSo3ky3e+2SL8IZsYaHbliTpYpe94O50kWpu8EQ8/t7l6NT
MFEwHQYDVR0OBBYEFD9ehPaQd9ssl/nqYOBmQUSgByUlMB8GA1UdIwQYMBaAFD9e
hPaQd9ssl/nqYOBmQUSgByUlMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIhAMirwTNvOg6C2zppfLRj6m/vZqDygrI20f/QMY89DW+JAiA7rxmAc6WR
D3q7nkGgoQ4ZephI0i0LAy3HkZeLEW27dQ==
-----END CERTIFICATE-----\n";

/// A registry client made for one registry and settings, kept for the process.
struct Cached {
    key: String,
    client: Client,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    auth: RegistryAuth,
}

/// The clients made so far.
static CLIENTS: std::sync::Mutex<Vec<Cached>> = std::sync::Mutex::new(Vec::new());

pub(super) struct Session {
    pub(super) client: Client,
    pub(super) auth: RegistryAuth,
    pub(super) runtime: std::sync::Arc<tokio::runtime::Runtime>,
    pub(super) what: String,
    pub(super) timeout: Duration,
}

impl Session {
    pub(super) fn new(r: &OciRef, opts: &RegistryOptions) -> Result<Self, Error> {
        let registry = r.registry().to_owned();
        if opts.insecure && !is_local(&registry) {
            return Err(registry_err(format!(
                "--insecure (plain HTTP) is only for a registry on this machine, not {}",
                crate::util::shown(&registry)
            )));
        }
        let extra_root_certificates = match &opts.ca {
            Some(path) => {
                let data = crate::input::read_small(path).map_err(|e| Error::io(path, e))?;
                if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(registry_err(format!(
                        "{}: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    )));
                }
                vec![oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data,
                }]
            }
            None => Vec::new(),
        };
        // One client (and runtime) per registry and settings for the whole process: making
        // one costs about 30 ms here (oci-client builds a default HTTP client besides the one
        // configured, which loads the system's certificate store), and `sync` pulls many
        // plugins from one registry.
        // The credentials are part of it too: a client keeps the first credentials it is given
        // for a registry (and its tokens), so another config file gets another client.
        let key = format!(
            "{registry}|{}|{:?}|{:?}|{:?}",
            opts.insecure, opts.ca, opts.timeout, opts.config
        );
        let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        let (client, runtime, auth) = match clients.iter().find(|c| c.key == key) {
            Some(c) => (c.client.clone(), c.runtime.clone(), c.auth.clone()),
            None => {
                let config = ClientConfig {
                    tls_certs_only: if opts.insecure && opts.ca.is_none() {
                        vec![oci_client::client::Certificate {
                            encoding: oci_client::client::CertificateEncoding::Pem,
                            data: NO_TLS_PLACEHOLDER.as_bytes().to_vec(),
                        }]
                    } else {
                        Vec::new()
                    },
                    extra_root_certificates,
                    protocol: if opts.insecure {
                        ClientProtocol::HttpsExcept(vec![registry.clone()])
                    } else {
                        ClientProtocol::Https
                    },
                    read_timeout: Some(opts.timeout),
                    connect_timeout: Some(opts.timeout),
                    // Plain HTTP stays on this machine: an explicit proxy that every host bypasses
                    // turns the environment's HTTP_PROXY/HTTPS_PROXY off.
                    http_proxy: opts.insecure.then(|| "http://127.0.0.1:9".to_owned()),
                    https_proxy: opts.insecure.then(|| "http://127.0.0.1:9".to_owned()),
                    no_proxy: opts.insecure.then(|| "*".to_owned()),
                    ..ClientConfig::default()
                };
                let runtime = std::sync::Arc::new(network_runtime()?);
                // `Client::new` would fall back to a default client (the system's certificates, the
                // environment's proxies, no time limits) on a bad setting: refuse instead.
                let client = Client::try_from(config).map_err(|e| {
                    registry_err(format!(
                        "{r}: cannot set up the registry client: {}",
                        crate::util::shown_message(&e.to_string())
                    ))
                })?;
                // Asked once per registry and config file (a credential helper runs once, not
                // once per plugin a sync pulls).
                let auth = credentials(&registry, opts.config.as_deref(), opts.timeout)?;
                clients.push(Cached {
                    key,
                    client: client.clone(),
                    runtime: runtime.clone(),
                    auth: auth.clone(),
                });
                (client, runtime, auth)
            }
        };
        drop(clients);
        Ok(Self {
            client,
            auth,
            runtime,
            what: r.to_string(),
            timeout: opts.timeout,
        })
    }

    /// Runs `f` to completion, within the time limit (twice the per-read limit: a registry
    /// that trickles bytes is stopped too).
    pub(super) fn run<T>(
        &self,
        doing: &str,
        f: impl std::future::Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    ) -> Result<T, Error> {
        let limit = self.timeout.saturating_mul(2);
        match self
            .runtime
            .block_on(async { tokio::time::timeout(limit, f).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let text = describe(&e);
                let hint = if text.contains("MANIFEST_UNKNOWN") || text.contains("manifest unknown") {
                    "; there is no artifact at that reference (check the repository and tag, or push one with `kure plugins push`)"
                } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
                    "; the registry does not speak HTTPS (for a plain-HTTP registry on this machine, add --insecure)"
                } else if text.contains("certificate") || text.contains("UnknownIssuer") {
                    "; the registry's TLS certificate is not trusted (for a private certificate authority, pass its PEM certificate with --registry-ca FILE)"
                } else if text.contains("UNAUTHORIZED")
                    || text.contains("Not authorized")
                    || text.contains("401")
                {
                    "; the registry wants credentials: log in with `docker login` (kure reads its config file) or pass --registry-config FILE"
                } else {
                    ""
                };
                Err(registry_err(format!(
                    "{}: {doing} failed: {}{hint}",
                    self.what,
                    crate::util::shown_message(&text)
                )))
            }
            Err(_) => Err(registry_err(format!(
                "{}: {doing} did not finish within {} s; the registry is not answering (check the address, or raise --registry-timeout)",
                self.what,
                limit.as_secs()
            ))),
        }
    }
}

impl Session {
    /// The image manifest an index entry names, fetched by its digest and checked against it.
    pub(super) fn platform_manifest(
        &self,
        reference: &OciRef,
        entry: &ImageIndexEntry,
    ) -> Result<(Vec<u8>, String), Error> {
        let child = reference.with_digest(&entry.digest);
        let (bytes, digest) = self.run(
            "reading a platform's manifest",
            self.client
                .pull_manifest_raw(&child, &self.auth, &[OCI_IMAGE_MEDIA_TYPE]),
        )?;
        check_manifest(self, &bytes, &digest, Some(&entry.digest))?;
        Ok((bytes.to_vec(), digest))
    }
}

/// An error of the OCI client with its causes, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Credentials for `registry` from the Docker config file (`auths.<registry>.auth`, base64
/// `user:password`); anonymous when there are none. Credential helpers are not run.
pub(super) fn credentials(
    registry: &str,
    config: Option<&Path>,
    limit: Duration,
) -> Result<RegistryAuth, Error> {
    use base64::Engine as _;
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("DOCKER_CONFIG") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("config.json"),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".docker/config.json"),
                None => return Ok(RegistryAuth::Anonymous),
            },
        },
    };
    let text = match crate::input::read_small_text(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.is_none() => {
            return Ok(RegistryAuth::Anonymous)
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    #[derive(Deserialize)]
    struct DockerConfig {
        #[serde(default)]
        auths: BTreeMap<String, AuthEntry>,
        /// Per registry, the credential helper (`docker-credential-NAME`) that holds its
        /// credentials.
        #[serde(default, rename = "credHelpers")]
        cred_helpers: BTreeMap<String, String>,
        /// The credential helper for every registry without one of its own.
        #[serde(default, rename = "credsStore")]
        creds_store: Option<String>,
    }
    #[derive(Deserialize)]
    struct AuthEntry {
        #[serde(default)]
        auth: Option<String>,
    }
    // serde's message could quote a credential: say where, not what.
    let parsed: DockerConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        reason: format!(
            "not a Docker config file (line {}, column {}); expected {{\"auths\": {{\"REGISTRY\": {{\"auth\": \"BASE64\"}}}}}}",
            e.line(),
            e.column()
        ),
    })?;
    // As Docker reads it: the registry's own helper, else the store, else `auths`.
    let helper = parsed
        .cred_helpers
        .iter()
        .find(|(k, _)| same_registry(k, registry))
        .map(|(_, h)| h)
        .or(parsed.creds_store.as_ref())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return from_helper(helper, registry, &path, limit);
    }
    let entry = parsed
        .auths
        .iter()
        .find(|(k, _)| same_registry(k, registry));
    let Some((_, AuthEntry { auth: Some(auth) })) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = || Error::Config {
        path: path.clone(),
        reason: format!(
            "auths.{}.auth is not base64 of USER:PASSWORD",
            crate::util::shown(registry)
        ),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
}

/// Whether a Docker config key (`ghcr.io`, `https://ghcr.io/v1/`) names `registry`.
fn same_registry(key: &str, registry: &str) -> bool {
    key.trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        == Some(registry)
}

/// `docker-credential-<helper>` in an absolute directory of `$PATH` (Docker's lookup, minus
/// the working directory a relative or empty entry would mean).
fn find_helper(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Asks the credential helper `docker-credential-<helper>` (from `$PATH`, as Docker does) for
/// `registry`'s credentials: `get`, the registry on stdin, `{"Username", "Secret"}` on
/// stdout. "credentials not found" is anonymous access; anything else that fails is an
/// error naming the helper and the config file, never quoting what it printed (it may hold
/// the secret). The helper's name comes from a file: only a plain name is run, never a
/// path. It runs in a process group of its own, which is killed whole at the time limit
/// (`limit`, the registry time limit).
fn from_helper(
    helper: &str,
    registry: &str,
    config: &Path,
    limit: Duration,
) -> Result<RegistryAuth, Error> {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let refuse = |why: String| Error::Config {
        path: config.to_path_buf(),
        reason: format!(
            "the credential helper {} for {}: {why}",
            crate::util::shown(&program),
            crate::util::shown(registry)
        ),
    };
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || helper.starts_with('.')
        || helper.len() > 64
    {
        return Err(refuse(
            "is not a helper name (letters, digits, `-`, `_` and `.`)".to_owned(),
        ));
    }
    let found = find_helper(&program).ok_or_else(|| {
        refuse("is not on PATH; install it, or remove it from the file".to_owned())
    })?;
    let mut child = Command::new(&found)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| refuse(format!("cannot be run ({e})")))?;
    let group = child.id();
    let kill_group = || {
        if let Ok(pid) = i32::try_from(group) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
    };
    // Stdin and stdout on threads of their own, so that neither a helper that does not read
    // nor one whose children keep stdout open can hold kure past the deadline.
    let mut stdin = child.stdin.take();
    let host = registry.to_owned();
    std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(host.as_bytes());
        }
    });
    let mut stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(64 << 10).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let deadline = std::time::Instant::now() + limit;
    let late = || {
        refuse(format!(
            "did not answer within {} s (--registry-timeout)",
            limit.as_secs_f32()
        ))
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                kill_group();
                let _ = child.wait();
                return Err(late());
            }
        }
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let Ok(out) = rx.recv_timeout(left) else {
        kill_group();
        return Err(late());
    };
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        if text.contains("credentials not found") {
            return Ok(RegistryAuth::Anonymous);
        }
        return Err(refuse(format!("failed ({status})")));
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    // Its answer holds a secret: say that it did not read, not what it said.
    let answer: Answer = serde_json::from_str(&text).map_err(|_| {
        refuse("answered something other than {\"Username\", \"Secret\"}".to_owned())
    })?;
    if answer.username == "<token>" {
        return Err(refuse(
            "gave an identity token, which kure does not use yet; log in with a user name and password or token".to_owned(),
        ));
    }
    Ok(RegistryAuth::Basic(answer.username, answer.secret))
}

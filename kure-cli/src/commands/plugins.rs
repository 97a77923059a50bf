//! `kure plugins`: author tools (keygen, sign, verify) and the store (install, uninstall,
//! list, info, rebuild-index).

use std::path::{Path, PathBuf};

use anyhow::Context;
use kure_core::store::{IndexEntry, InstallOutcome};
use kure_core::trust::{self, short_fp, signature_path, PrivateKey};
use serde_json::{json, Value};

use crate::common::{print_table, print_value, Format, GlobalArgs};

/// Manage plugins: sign and verify libraries, install them into $KURE_HOME/plugins, list them.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Start a plugin: write a standalone crate (Cargo.toml, src/lib.rs with a spec struct and
    /// a generator, docs/*.md, two examples/*.yaml, and a test using kure_plugin_api::testing)
    /// whose `cargo test` passes as written. Its README shows the whole author loop.
    New {
        /// Plugin and crate name, e.g. redis-cache.
        name: String,
        /// The GVK it generates, e.g. cache.example.com/v1alpha1/RedisCache.
        #[arg(long, value_name = "GROUP/VERSION/KIND")]
        gvk: String,
        /// Where to write the crate (default: ./NAME); it must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Depend on kure-plugin-api at PATH (a kure source checkout's kure-plugin-api/)
        /// instead of by version. Default: the kure-plugin-api of the source tree this kure
        /// was built from, when it is still there.
        #[arg(long, value_name = "PATH")]
        api_path: Option<PathBuf>,
    },
    /// Generate an RSA signing key pair: PREFIX.key.pem (private, mode 0600) and PREFIX.pub.pem.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Key size in bits (2048 to 4096).
        #[arg(long, default_value_t = 3072)]
        bits: usize,
    },
    /// Sign a library: writes LIB.sig (openssl dgst -sha256 -sign compatible).
    Sign {
        /// The plugin library.
        lib: PathBuf,
        /// The PEM private key (PKCS#8 or PKCS#1).
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// Where to write the signature (default LIB.sig).
        #[arg(long, value_name = "SIG")]
        out: Option<PathBuf>,
    },
    /// Check a library's signature against the trusted signers; prints the signer.
    Verify {
        /// The plugin library.
        lib: PathBuf,
        /// The signature (default LIB.sig).
        #[arg(long, value_name = "SIG")]
        sig: Option<PathBuf>,
    },
    /// Verify a plugin, read its metadata, GVKs, schemas and docs, and add it to the store.
    Install {
        /// The plugin library.
        path: PathBuf,
        /// The signature (default PATH.sig).
        #[arg(long, value_name = "SIG")]
        sig: Option<PathBuf>,
        /// Replace an installed plugin that provides one of the same GVKs.
        #[arg(long)]
        replace: bool,
    },
    /// Remove an installed plugin: library, signature and index entry.
    Uninstall {
        /// Plugin name.
        name: String,
    },
    /// List installed plugins (reads the index; never loads a library).
    List {
        /// Output format: table, wide (more columns), json or yaml.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Show everything recorded about an installed plugin.
    Info {
        /// Plugin name.
        name: String,
        /// Output format: table, wide (more columns), json or yaml.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Rebuild a lost or corrupted index from the libraries in the store (verifies each).
    RebuildIndex,
    /// Check installed plugins: recorded hash, trusted signature, lock pins (with ./kure.lock
    /// or --lock), then load each, run initialize and health_check (timed) and shutdown.
    /// Exits 1 if any check fails; a library failing hash, signature or lock is never run.
    Status {
        /// Plugin names (default: every installed plugin).
        names: Vec<String>,
        /// The lock to check against (default: ./kure.lock when it exists).
        #[arg(long, value_name = "FILE")]
        lock: Option<PathBuf>,
        /// Output format: table, wide (more columns), json or yaml.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "creating {} (refusing to overwrite an existing key)",
            path.display()
        )
    })?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Runs `kure plugins`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::New {
            name,
            gvk,
            dir,
            api_path,
        } => {
            let api_path = match api_path {
                Some(p) => {
                    let p = crate::common::absolute(&p);
                    anyhow::ensure!(
                        p.join("Cargo.toml").is_file(),
                        "--api-path {}: no Cargo.toml there; point it at the kure-plugin-api directory of a kure checkout",
                        p.display()
                    );
                    Some(p)
                }
                // The source tree this kure was built from, when it is still there and the
                // user's own: kure-plugin-api is not on crates.io yet.
                None => kure_core::ops::scaffold::built_from_api_path(
                    &Path::new(env!("CARGO_MANIFEST_DIR")).join("../kure-plugin-api"),
                ),
            };
            let plugin = kure_core::ops::scaffold::NewPlugin::new(&name, &gvk, api_path.clone())?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            plugin.write(&dir)?;
            outln!(
                "created {} ({} files): plugin {name}, {} in {}/{}",
                dir.display(),
                plugin.files().len(),
                plugin.kind,
                plugin.group,
                plugin.version
            );
            match &api_path {
                Some(p) => outln!("kure-plugin-api: {} (by path)", p.display()),
                None => noteln!(
                    "note: the crate depends on kure-plugin-api = \"{}\" by version; until it is published, point it at a kure checkout with --api-path or in Cargo.toml",
                    kure_core::PLUGIN_API_VERSION
                ),
            }
            outln!(
                "next:\n  cd {}\n  cargo test\n  cargo build --release\n  kure --allow-unsigned --plugin target/release/lib{}.so generate -f examples/",
                dir.display(),
                plugin.lib_name()
            );
        }
        Command::Keygen { out, bits } => {
            let key = PrivateKey::generate(bits)?;
            let pubkey = key.public_key()?;
            let priv_path = PathBuf::from(format!("{}.key.pem", out.display()));
            let pub_path = PathBuf::from(format!("{}.pub.pem", out.display()));
            if pub_path.exists() {
                anyhow::bail!("{} exists; refusing to overwrite a key", pub_path.display());
            }
            write_private(&priv_path, &key.to_pem()?)?;
            std::fs::write(&pub_path, pubkey.to_pem())
                .with_context(|| format!("writing {}", pub_path.display()))?;
            outln!(
                "private key: {}\npublic key:  {}\nfingerprint: {}",
                priv_path.display(),
                pub_path.display(),
                pubkey.fingerprint
            );
        }
        Command::Sign { lib, key, out } => {
            let key = PrivateKey::from_file(&key)?;
            let bytes =
                std::fs::read(&lib).with_context(|| format!("reading {}", lib.display()))?;
            let sig = key.sign(&bytes)?;
            let out = out.unwrap_or_else(|| signature_path(&lib));
            std::fs::write(&out, sig).with_context(|| format!("writing {}", out.display()))?;
            outln!(
                "signed {} -> {} (signer {})",
                lib.display(),
                out.display(),
                key.public_key()?.fingerprint
            );
        }
        Command::Verify { lib, sig } => {
            let policy = global.trust()?;
            // Streamed: a large library is never held in memory whole.
            let digest =
                trust::digest_file(&lib).with_context(|| format!("reading {}", lib.display()))?;
            let sig_path = sig.unwrap_or_else(|| signature_path(&lib));
            let sig = match kure_core::input::read_small(&sig_path) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    anyhow::bail!(
                        "{}: {}",
                        lib.display(),
                        trust::SignatureProblem::Missing(sig_path)
                    )
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", sig_path.display())),
            };
            match trust::verify_digest(&digest, &sig, &sig_path, &policy.signers) {
                Ok(fp) => {
                    let source = policy
                        .signers
                        .iter()
                        .find(|k| k.fingerprint == fp)
                        .map(|k| k.source.display().to_string());
                    outln!(
                        "verified: {} is signed by {fp} ({})",
                        lib.display(),
                        source.unwrap_or_default()
                    );
                }
                Err(p) => anyhow::bail!("{}: {p}", lib.display()),
            }
        }
        Command::Install { path, sig, replace } => {
            let policy = global.trust()?;
            let store = global.store();
            let (_, config) = global.home()?;
            let worker = global.isolation_policy(&config)?.worker;
            match kure_core::ops::install::install(
                &store,
                &kure_core::ops::install::InstallOptions {
                    library: &path,
                    sig: sig.as_deref(),
                    policy: &policy,
                    replace,
                    worker: &worker,
                },
            )? {
                InstallOutcome::AlreadyInstalled(e) => {
                    outln!(
                        "{}@{} is already installed (same sha256); nothing to do",
                        e.name,
                        e.version
                    )
                }
                InstallOutcome::Installed { entry, replaced } => {
                    if entry.signer == "unsigned" {
                        noteln!("warning: installed unsigned plugin {}@{} because unsigned plugins are allowed", entry.name, entry.version);
                    }
                    let gvks: Vec<String> = entry
                        .gvks
                        .iter()
                        .map(|g| format!("{}/{}", g.api_version, g.kind))
                        .collect();
                    outln!(
                        "installed {}@{} ({}) signed by {}",
                        entry.name,
                        entry.version,
                        gvks.join(", "),
                        short_fp(&entry.signer)
                    );
                    if !replaced.is_empty() {
                        outln!("replaced {}", replaced.join(", "));
                    }
                }
            }
        }
        Command::Uninstall { name } => {
            let e = global.store().uninstall(&name)?;
            outln!("uninstalled {}@{}", e.name, e.version);
        }
        Command::List { output } => {
            let (_, config) = global.home()?;
            let isolation = global.isolation_policy(&config)?;
            let mode = |name: &str| isolation.requested(name).0.to_string();
            let store = global.store();
            let index = store.read_index()?;
            let orphans = store.orphans()?;
            if !orphans.is_empty() {
                let paths: Vec<String> = orphans
                    .iter()
                    .map(|p| format!("  {}", p.display()))
                    .collect();
                noteln!(
                    "warning: the plugin store holds {} leftover(s) of interrupted operations; kure never loads them, and the next `kure plugins install` or `uninstall` removes them (`rebuild-index` registers again those that still verify):\n{}",
                    orphans.len(),
                    paths.join("\n")
                );
            }
            let rows: Vec<(IndexEntry, String)> = index
                .plugins
                .into_iter()
                .map(|e| {
                    let s = store.status(&e).to_string();
                    (e, s)
                })
                .collect();
            match output {
                Format::Table | Format::Wide if rows.is_empty() => {
                    outln!("No plugins installed.")
                }
                Format::Table | Format::Wide => {
                    let wide = output == Format::Wide;
                    // Name and version were checked when the index was read; author and
                    // description are the plugin's own words, shown escaped.
                    let table: Vec<Vec<String>> = rows
                        .iter()
                        .map(|(e, status)| {
                            let gvks: Vec<String> = e
                                .gvks
                                .iter()
                                .map(|g| format!("{}/{}", g.api_version, g.kind))
                                .collect();
                            let mut row = vec![
                                e.name.clone(),
                                e.version.clone(),
                                kure_core::shown_max(&e.author, 60),
                                kure_core::shown_max(&e.description, 80),
                                gvks.join(","),
                                short_fp(&e.signer).to_owned(),
                                status.clone(),
                            ];
                            if wide {
                                row.push(mode(&e.name));
                                row.push(e.sha256.clone());
                            }
                            row
                        })
                        .collect();
                    let mut header = vec![
                        "NAME",
                        "VERSION",
                        "AUTHOR",
                        "DESCRIPTION",
                        "GVKS",
                        "SIGNER",
                        "STATUS",
                    ];
                    if wide {
                        header.extend(["ISOLATION", "SHA256"]);
                    }
                    print_table(&header, &table);
                }
                f => {
                    let v: Vec<Value> = rows
                        .iter()
                        .map(|(e, status)| {
                            json!({
                                "name": e.name, "version": e.version, "author": e.author,
                                "description": e.description,
                                "gvks": e.gvks.iter().map(|g| format!("{}/{}", g.api_version, g.kind)).collect::<Vec<_>>(),
                                "signer": e.signer, "sha256": e.sha256, "status": status,
                                "isolation": mode(&e.name),
                            })
                        })
                        .collect();
                    print_value(&Value::Array(v), f)?;
                }
            }
        }
        Command::Info { name, output } => {
            let (_, config) = global.home()?;
            let (mode, source) = global.isolation_policy(&config)?.requested(&name);
            let from = match source {
                kure_core::plugin::isolation::Source::Default => "the default".to_owned(),
                kure_core::plugin::isolation::Source::PerPlugin => {
                    format!("`plugins: {{{name}: ...}}` in config.yaml")
                }
                kure_core::plugin::isolation::Source::Global(from) => from,
            };
            let store = global.store();
            let index = store.read_index()?;
            let e = index
                .plugins
                .iter()
                .find(|e| e.name == name)
                .ok_or_else(|| {
                    anyhow::anyhow!("no installed plugin named `{name}`; see `kure plugins list`")
                })?;
            let status = store.status(e);
            let metadata = store.metadata(e)?;
            match output {
                Format::Table | Format::Wide => {
                    outln!(
                        "Name:        {}\nVersion:     {}\nDescription: {}\nAuthor:      {}",
                        e.name,
                        e.version,
                        kure_core::shown_message(&e.description),
                        kure_core::shown(&e.author)
                    );
                    outln!("Library:     {}\nSHA-256:     {}\nSigner:      {}\nInstalled:   {}\nStatus:      {status}\nIsolation:   {mode} (from {from}; a lock pinning `process` raises it)", store.library_path(e).display(), e.sha256, e.signer, e.installed_at);
                    outln!("GVKs:");
                    for g in &metadata.gvks {
                        outln!(
                            "  {}/{} ({} examples; `kure explain {}`)",
                            g.api_version,
                            g.kind,
                            g.documentation.examples.len(),
                            g.kind
                        );
                    }
                }
                f => {
                    let mut v = serde_json::to_value(e)?;
                    v["status"] = json!(status.to_string());
                    v["isolation"] = json!(mode.to_string());
                    v["gvks"] = serde_json::to_value(&metadata.gvks)?;
                    print_value(&v, f)?;
                }
            }
        }
        Command::Status {
            names,
            lock,
            output,
        } => {
            let policy = global.trust()?;
            let lock = match lock.or_else(|| {
                let p = PathBuf::from(kure_core::store::lockfile::LOCK_FILE);
                p.exists().then_some(p)
            }) {
                Some(p) => Some(kure_core::store::lockfile::Lock::read(&p)?),
                None => None,
            };
            let (_, config) = global.home()?;
            let worker = global.isolation_policy(&config)?.worker;
            let report = kure_core::store::status::plugins_status(
                &global.store(),
                &policy,
                lock.as_ref(),
                &names,
                &worker,
            )?;
            match output {
                Format::Table | Format::Wide => {
                    let rows: Vec<Vec<String>> = report
                        .iter()
                        .map(|p| {
                            let checks = p
                                .checks
                                .iter()
                                .map(|c| match (c.ok, c.micros) {
                                    (true, Some(us)) => format!("{} ok ({us} µs)", c.check),
                                    (true, None) => format!("{} ok", c.check),
                                    (false, _) => format!("{} FAILED: {}", c.check, c.detail),
                                })
                                .collect::<Vec<_>>()
                                .join(", ");
                            vec![
                                p.name.clone(),
                                p.version.clone(),
                                if p.ok { "ok" } else { "FAILED" }.to_owned(),
                                checks,
                            ]
                        })
                        .collect();
                    print_table(&["NAME", "VERSION", "STATUS", "CHECKS"], &rows);
                }
                f => print_value(&serde_json::to_value(&report)?, f)?,
            }
            let failed: Vec<&str> = report
                .iter()
                .filter(|p| !p.ok)
                .map(|p| p.name.as_str())
                .collect();
            if !failed.is_empty() {
                anyhow::bail!("plugin checks failed: {}", failed.join(", "));
            }
        }
        Command::RebuildIndex => {
            let policy = global.trust()?;
            let (_, config) = global.home()?;
            let worker = global.isolation_policy(&config)?.worker;
            let index = global.store().rebuild_index(&policy, &worker)?;
            outln!("rebuilt the index: {} plugins", index.plugins.len());
        }
    }
    Ok(())
}

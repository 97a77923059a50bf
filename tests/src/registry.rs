//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry), started per test on a free localhost port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::have_tool;

/// A registry on 127.0.0.1, storing under a directory of its own; stopped when dropped.
pub struct Registry {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one, or `None` (said loudly; a failure under CI) when `docker-registry` is not
    /// installed.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, "", false)
    }

    /// Starts one whose config ends with `extra` (TLS, auth); `tls`: it speaks HTTPS, so
    /// readiness is a TCP connection.
    pub fn start_with(test: &str, extra: &str, tls: bool) -> Option<Self> {
        if !have_tool(
            "docker-registry",
            test,
            "Debian's docker-registry package: apt-get install docker-registry",
        ) {
            return None;
        }
        let mut dir = tempfile::tempdir().expect("tmp");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                    dir.path().join("data").display()
                ),
            )
            .expect("config");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry starts");
            let mut r = Registry { child, port, dir };
            if r.wait_ready(tls) {
                return Some(r);
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
            dir = r.into_dir();
        }
        panic!("docker-registry did not start on a free port in five tries");
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tmp");
        std::mem::replace(&mut self.dir, dir)
    }

    fn wait_ready(&mut self, tls: bool) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if tls {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return true;
                }
            } else if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.") && answer.contains(" 200 ") {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `oci://localhost:PORT/<repo>`.
    pub fn reference(&self, repo: &str) -> String {
        format!("oci://localhost:{}/{repo}", self.port)
    }

    /// The file in the registry's storage holding the blob whose content is `bytes`.
    pub fn blob_holding(&self, bytes: &[u8]) -> PathBuf {
        self.blob(&format!(
            "sha256:{}",
            kure_core::trust::digest_hex(&kure_core::trust::digest(bytes))
        ))
    }

    /// The file holding blob `digest` (`sha256:...`) in the registry's storage.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Where a run's output waits: every rendered app is spooled (in memory, then a temporary
//! file) and written only at `commit`, to stdout or as the `-o` tree, after every plugin call
//! has returned.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use crate::model::error::Error;
use crate::output::tree::{kustomization, MARKER};
use crate::output::Output;

/// One app's objects, rendered.
pub(crate) struct Rendered {
    /// Its namespace (`default` when it names none).
    pub(crate) namespace: String,
    /// Its name.
    pub(crate) app: String,
    /// (file stem, YAML or JSON) per object.
    pub(crate) objects: Vec<(String, String)>,
    /// [`crate::pipeline::key_hash`] of each object.
    pub(crate) keys: Vec<u64>,
}

/// Bytes kept until the run succeeds: in memory, spilling to an anonymous temporary file.
#[derive(Default)]
pub(crate) struct Spool {
    mem: Vec<u8>,
    file: Option<std::fs::File>,
}

/// Output kept in memory before the spool moves to a temporary file.
const SPOOL_LIMIT: usize = 4 << 20;

impl Spool {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.mem.extend_from_slice(bytes);
        if self.mem.len() > SPOOL_LIMIT {
            let tmp = || Error::io(std::env::temp_dir(), std::io::Error::last_os_error());
            let f = match &mut self.file {
                Some(f) => f,
                None => self
                    .file
                    .insert(tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?),
            };
            f.write_all(&self.mem).map_err(|_| tmp())?;
            self.mem.clear();
        }
        Ok(())
    }

    /// Everything pushed, in order.
    pub(crate) fn reader(self) -> Result<impl std::io::BufRead, Error> {
        let file = match self.file {
            Some(mut f) => {
                f.rewind().map_err(|e| Error::io(std::env::temp_dir(), e))?;
                Some(f)
            }
            None => None,
        };
        let head: Box<dyn Read> = match file {
            Some(f) => Box::new(f),
            None => Box::new(std::io::empty()),
        };
        Ok(std::io::BufReader::with_capacity(
            1 << 20,
            head.chain(std::io::Cursor::new(self.mem)),
        ))
    }
}

/// How a JSON stream starts: one `v1` `List` of every object.
const JSON_LIST_START: &[u8] = b"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n";

/// A sink nobody sees until `commit`, which runs only after every plugin call has returned:
/// a plugin that crashes, exits or hangs leaves nothing behind, not even a staging directory.
pub(crate) enum Sink {
    Stdout(Spool),
    /// A JSON `List`: whether an object was written yet (for the commas).
    StdoutJson(Spool, bool),
    /// Records `NS/APP/FILE LEN\n` + the YAML, materialized beneath the handle at commit.
    Dir {
        out: crate::output::tree::OutputDir,
        spool: Spool,
        /// namespace -> app -> file names.
        layout: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    },
}

impl Sink {
    pub(crate) fn new(output: &Output) -> Result<Self, Error> {
        Ok(match output {
            Output::Stdout => Sink::Stdout(Spool::default()),
            Output::StdoutJson => {
                let mut spool = Spool::default();
                spool.push(JSON_LIST_START)?;
                Sink::StdoutJson(spool, false)
            }
            Output::Dir(d) => Sink::Dir {
                out: crate::output::tree::OutputDir::open(d)?,
                spool: Spool::default(),
                layout: BTreeMap::new(),
            },
        })
    }

    pub(crate) fn write(&mut self, r: Rendered) -> Result<(), Error> {
        match self {
            Sink::Stdout(spool) => {
                for (_, yaml) in &r.objects {
                    spool.push(b"---\n")?;
                    spool.push(yaml.as_bytes())?;
                }
                Ok(())
            }
            Sink::StdoutJson(spool, any) => {
                for (_, json) in &r.objects {
                    if std::mem::replace(any, true) {
                        spool.push(b",\n")?;
                    }
                    spool.push(json.as_bytes())?;
                }
                Ok(())
            }
            Sink::Dir { spool, layout, .. } => {
                let names = layout
                    .entry(r.namespace.clone())
                    .or_default()
                    .entry(r.app.clone())
                    .or_default();
                for (stem, yaml) in r.objects {
                    let mut file = format!("{stem}.yaml");
                    let mut n = 2;
                    while names.contains(&file) {
                        file = format!("{stem}-{n}.yaml");
                        n += 1;
                    }
                    spool.push(
                        format!("{}/{}/{file} {}\n", r.namespace, r.app, yaml.len()).as_bytes(),
                    )?;
                    spool.push(yaml.as_bytes())?;
                    names.push(file);
                }
                Ok(())
            }
        }
    }

    pub(crate) fn commit(self) -> Result<(), Error> {
        let json = matches!(self, Sink::StdoutJson(..));
        match self {
            Sink::Stdout(mut spool) | Sink::StdoutJson(mut spool, _) => {
                if json {
                    spool.push(b"\n]}\n")?;
                }
                let mut reader = spool.reader()?;
                let mut out = crate::plugin::contain::stdout();
                match std::io::copy(&mut reader, &mut out) {
                    Ok(_) => Ok(()),
                    // A closed pipe (`kure generate | head`) is the reader's choice, not an error.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    Err(e) => Err(Error::io("<stdout>", e)),
                }
            }
            Sink::Dir { out, spool, layout } => out.replace(|dir| {
                let fail = |e: std::io::Error| Error::Output {
                    path: PathBuf::from("<staging>"),
                    reason: format!("{e} (the previous output is untouched)"),
                };
                let mut reader = spool.reader()?;
                let mut header = String::new();
                let mut yaml = Vec::new();
                let mut made = HashSet::new();
                loop {
                    header.clear();
                    if std::io::BufRead::read_line(&mut reader, &mut header).map_err(fail)? == 0 {
                        break;
                    }
                    let (rel, len) = header
                        .trim_end()
                        .rsplit_once(' ')
                        .and_then(|(r, l)| Some((r.to_owned(), l.parse::<usize>().ok()?)))
                        .ok_or_else(|| fail(std::io::Error::other("corrupt output spool")))?;
                    yaml.resize(len, 0);
                    reader.read_exact(&mut yaml).map_err(fail)?;
                    let app_dir = rel.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
                    if made.insert(app_dir.clone()) {
                        dir.create_dir_all(&app_dir).map_err(fail)?;
                    }
                    dir.write(&rel, &yaml).map_err(fail)?;
                }
                let mut namespaces = Vec::new();
                for (ns, apps) in &layout {
                    for (app, files) in apps {
                        dir.write(format!("{ns}/{app}/kustomization.yaml"), kustomization(files))
                            .map_err(fail)?;
                    }
                    dir.write(
                        format!("{ns}/kustomization.yaml"),
                        kustomization(&apps.keys().cloned().collect::<Vec<_>>()),
                    )
                    .map_err(fail)?;
                    namespaces.push(ns.clone());
                }
                dir.write("kustomization.yaml", kustomization(&namespaces))
                    .map_err(fail)?;
                dir.write(
                    MARKER,
                    "This directory is written by `kure generate -o`; it is replaced on every run.\n",
                )
                .map_err(fail)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever was pushed comes back in order, whether it stayed in memory, spilled to the
    /// temporary file, or both (the file first, then what came after the last spill).
    #[test]
    fn the_spool_gives_back_everything_in_order() {
        for total in [0usize, 10, SPOOL_LIMIT + 1, 3 * SPOOL_LIMIT + 12_345] {
            let mut spool = Spool::default();
            let mut expected = Vec::with_capacity(total);
            let mut n = 0u32;
            while expected.len() < total {
                let piece = format!("app {n}\n");
                let piece = &piece.as_bytes()[..piece.len().min(total - expected.len())];
                spool.push(piece).expect("push");
                expected.extend_from_slice(piece);
                n += 1;
            }
            assert_eq!(spool.file.is_some(), total > SPOOL_LIMIT, "{total}");
            let mut back = Vec::new();
            spool
                .reader()
                .expect("reader")
                .read_to_end(&mut back)
                .expect("read");
            assert!(
                back == expected,
                "{total} bytes came back as {}",
                back.len()
            );
        }
    }
}

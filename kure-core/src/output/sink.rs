//! Where a run's output waits: every rendered app is spooled (in memory, then a temporary
//! file) and written only at `commit`, to stdout or as the `-o` tree, after every plugin call
//! has returned.

use std::collections::{BTreeMap, HashMap, HashSet};
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
        /// The file names of directories holding many (`NS/APP` -> names): a scan of the list
        /// per file is quadratic there (every copied object of a namespace shares
        /// `_passthrough/`).
        crowded: HashMap<String, HashSet<String>>,
    },
}

/// Files in one directory from which a set answers "is this name taken?" instead of the list.
const CROWDED: usize = 32;

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
                crowded: HashMap::new(),
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
            Sink::Dir {
                spool,
                layout,
                crowded,
                ..
            } => {
                let names = layout
                    .entry(r.namespace.clone())
                    .or_default()
                    .entry(r.app.clone())
                    .or_default();
                let dir = format!("{}/{}", r.namespace, r.app);
                for (stem, yaml) in r.objects {
                    let mut set = crowded.get_mut(&dir);
                    if set.is_none() && names.len() >= CROWDED {
                        set = Some(
                            crowded
                                .entry(dir.clone())
                                .or_insert_with(|| names.iter().cloned().collect()),
                        );
                    }
                    let taken = |f: &String| match &set {
                        Some(set) => set.contains(f),
                        None => names.contains(f),
                    };
                    let mut file = format!("{stem}.yaml");
                    let mut n = 2;
                    while taken(&file) {
                        file = format!("{stem}-{n}.yaml");
                        n += 1;
                    }
                    spool.push(format!("{dir}/{file} {}\n", yaml.len()).as_bytes())?;
                    spool.push(yaml.as_bytes())?;
                    if let Some(set) = set {
                        set.insert(file.clone());
                    }
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
            Sink::Dir {
                out, spool, layout, ..
            } => out.replace(|staging| {
                let reader = spool.reader()?;
                let mut jobs = TreeJobs {
                    reader,
                    pending: None,
                    layout: &layout,
                    done: HashSet::new(),
                    tail: None,
                };
                crate::output::fill::fill(staging, std::iter::from_fn(|| jobs.next()))
            }),
        }
    }
}

/// The files of the `-o` tree as [`fill`](crate::output::fill::fill) jobs: each app's objects
/// as they were spooled (one job per app, with its kustomization.yaml), then the
/// kustomizations of namespaces and of the root, and the marker.
struct TreeJobs<'a, R> {
    reader: R,
    /// A record read past the end of the previous job: (directory, file, bytes).
    pending: Option<(String, String, Vec<u8>)>,
    /// namespace -> app -> file names.
    layout: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// App directories whose kustomization.yaml went with their objects.
    done: HashSet<String>,
    /// What comes after the spool, once it is read.
    tail: Option<std::vec::IntoIter<crate::output::fill::Job>>,
}

impl<R: std::io::BufRead> TreeJobs<'_, R> {
    fn corrupt() -> Error {
        Error::Output {
            path: PathBuf::from("<staging>"),
            reason: "corrupt output spool (the previous output is untouched)".to_owned(),
        }
    }

    /// The next spooled record: `NS/APP/FILE LEN\n` and the bytes.
    fn record(&mut self) -> Result<Option<(String, String, Vec<u8>)>, Error> {
        if let Some(r) = self.pending.take() {
            return Ok(Some(r));
        }
        let mut header = String::new();
        if std::io::BufRead::read_line(&mut self.reader, &mut header)
            .map_err(|_| Self::corrupt())?
            == 0
        {
            return Ok(None);
        }
        let (rel, len) = header
            .trim_end()
            .rsplit_once(' ')
            .and_then(|(r, l)| Some((r, l.parse::<usize>().ok()?)))
            .ok_or_else(Self::corrupt)?;
        let (dir, file) = rel.rsplit_once('/').ok_or_else(Self::corrupt)?;
        let mut bytes = vec![0; len];
        self.reader
            .read_exact(&mut bytes)
            .map_err(|_| Self::corrupt())?;
        Ok(Some((dir.to_owned(), file.to_owned(), bytes)))
    }

    fn next(&mut self) -> Option<Result<crate::output::fill::Job, Error>> {
        if let Some(tail) = &mut self.tail {
            return tail.next().map(Ok);
        }
        let first = match self.record() {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.tail = Some(self.tail_jobs().into_iter());
                return self.next();
            }
            Err(e) => return Some(Err(e)),
        };
        let (dir, file, bytes) = first;
        let mut files = vec![(file, bytes)];
        loop {
            match self.record() {
                Ok(Some((d, f, b))) if d == dir => files.push((f, b)),
                Ok(Some(other)) => {
                    self.pending = Some(other);
                    break;
                }
                Ok(None) => break,
                Err(e) => return Some(Err(e)),
            }
        }
        // The whole app in one run of records (the usual case): its kustomization goes along.
        let names = dir
            .split_once('/')
            .and_then(|(ns, app)| self.layout.get(ns)?.get(app));
        if let Some(names) = names.filter(|n| n.len() == files.len() && !self.done.contains(&dir)) {
            files.push((
                "kustomization.yaml".to_owned(),
                kustomization(names).into_bytes(),
            ));
            self.done.insert(dir.clone());
        }
        Some(Ok((dir, files)))
    }

    /// The kustomizations not sent with their apps, the namespaces' and the root's, and the
    /// marker.
    fn tail_jobs(&self) -> Vec<crate::output::fill::Job> {
        let file = |text: String| vec![("kustomization.yaml".to_owned(), text.into_bytes())];
        let mut jobs = Vec::new();
        let mut namespaces = Vec::new();
        for (ns, apps) in self.layout {
            for (app, files) in apps {
                let dir = format!("{ns}/{app}");
                if !self.done.contains(&dir) {
                    jobs.push((dir, file(kustomization(files))));
                }
            }
            jobs.push((
                ns.clone(),
                file(kustomization(&apps.keys().cloned().collect::<Vec<_>>())),
            ));
            namespaces.push(ns.clone());
        }
        let mut root = file(kustomization(&namespaces));
        root.push((
            MARKER.to_owned(),
            b"This directory is written by `kure generate -o`; it is replaced on every run.\n"
                .to_vec(),
        ));
        jobs.push((String::new(), root));
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names in a crowded directory stay unique, as in a small one: the set takes over from
    /// the list with every name the list had.
    #[test]
    fn crowded_directories_keep_every_file_name_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = Sink::new(&Output::Dir(dir.path().join("out"))).expect("sink");
        let object = |stem: &str| Rendered {
            namespace: "default".into(),
            app: "_passthrough".into(),
            objects: vec![(stem.to_owned(), "x: 1\n".to_owned())],
            keys: vec![0],
        };
        for i in 0..100 {
            // Distinct stems, and one stem written again and again.
            sink.write(object(&format!("configmap-c{i}")))
                .expect("write");
            sink.write(object("configmap-same")).expect("write");
        }
        let Sink::Dir {
            layout, crowded, ..
        } = &sink
        else {
            panic!("a tree sink");
        };
        let names = &layout["default"]["_passthrough"];
        assert_eq!(names.len(), 200);
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 200);
        assert!(names.contains(&"configmap-same-100.yaml".to_owned()));
        assert_eq!(crowded["default/_passthrough"].len(), 200);
    }

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

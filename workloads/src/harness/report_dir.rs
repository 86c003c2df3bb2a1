//! A run's report directory, put in place whole or not at all. Every file of the run is
//! written into a fresh staging directory beside `--out` (hidden,
//! `.<name>.staging-<pid>-<n>`, unique per process and call), created and write-checked
//! with the longest file name of the report before any work, so a path that cannot hold
//! the report fails at start. [`ReportDir::place`] then swaps the whole directory in: the
//! old `--out` renamed aside (`.<name>.old-<pid>-<n>`), the staging directory renamed to
//! `--out`, the old one removed. A concurrent run that puts its own report in between
//! makes the rename fail; that report is moved aside too and the rename retried, at most
//! [`PLACE_ATTEMPTS`] times. A reader of `--out` sees one run's files or none.
//!
//! A report that is never placed leaves nothing: its staging directory (and the parents
//! its creation made, when empty) is removed on drop, and by [`abandon_all`], which the
//! harness calls on every early exit (a failure, the out-of-memory exit, SIGINT/SIGTERM).

use std::fmt::Display;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many times [`ReportDir::place`] tries to rename its directory to `--out` while
/// other runs keep putting theirs there.
pub const PLACE_ATTEMPTS: usize = 8;

/// Distinguishes the staging, aside and probe names of one process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Every report of this process not yet abandoned: the ones still staging, which
/// [`abandon_all`] removes, and the placed ones, which it names.
static REPORTS: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Staging,
    Placed,
    Abandoned,
}

#[derive(Debug)]
struct Shared {
    /// `--out` as given (messages name it).
    out: PathBuf,
    /// Where the report goes: `out`, or what it links to if it is a symlink.
    target: PathBuf,
    staging: PathBuf,
    /// The parents of `out` that creating it made, outermost first.
    created: Vec<PathBuf>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the staging directory and the parents made for it (those still empty).
    fn remove_staging(&self) {
        let _ = fs::remove_dir_all(&self.staging);
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A report being written into its staging directory, until [`ReportDir::place`].
#[derive(Debug)]
pub struct ReportDir(Arc<Shared>);

impl ReportDir {
    /// Prepares the report directory `out` for a report of the files `files`: creates the
    /// missing parents of `out`, checks that an existing `out` is a directory this process
    /// can empty (a file can be created in it), and creates the staging directory beside
    /// it with a file of the longest name in `files` in it (removed again). `out` itself
    /// is not touched until [`ReportDir::place`]. On failure the error names `out` and
    /// the cause, and everything this call created is removed again.
    pub fn create(out: impl AsRef<Path>, files: &[&str]) -> Result<ReportDir, String> {
        let out = out.as_ref();
        let fail =
            |e: &dyn Display| format!("cannot create the output directory {}: {e}", out.display());
        if out.as_os_str().is_empty() {
            return Err(fail(&"the path is empty"));
        }
        if out.file_name().is_none() {
            return Err(fail(&"the path must end in a directory's name"));
        }
        let longest = files.iter().copied().max_by_key(|f| f.len());
        let Some(longest) = longest.filter(|f| plain_name(f)) else {
            return Err(fail(&"the report's file names must be plain names"));
        };
        let created = create_parents(out).map_err(|e| fail(&e))?;
        let prepared = prepare(out, longest);
        match prepared {
            Ok((target, staging)) => {
                let shared = Arc::new(Shared {
                    out: out.to_path_buf(),
                    target,
                    staging,
                    created,
                    state: Mutex::new(State::Staging),
                });
                registry().push(shared.clone());
                Ok(ReportDir(shared))
            }
            Err(e) => {
                for dir in created.iter().rev() {
                    let _ = fs::remove_dir(dir);
                }
                Err(fail(&e))
            }
        }
    }

    /// The report's path: `--out` as given.
    pub fn path(&self) -> &Path {
        &self.0.out
    }

    /// The staging directory the files are written into until the report is placed.
    pub fn staging(&self) -> &Path {
        &self.0.staging
    }

    /// Writes `bytes` to the file `name` of the report (in the staging directory, flushed
    /// to disk). `name` must be a plain file name. Returns the path the file will have in
    /// `--out`; errors name it.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<PathBuf, String> {
        let target = self.0.out.join(name);
        let fail = |e: &dyn Display| format!("cannot write {}: {e}", target.display());
        if !plain_name(name) {
            return Err(fail(&"the name must be a plain file name"));
        }
        let state = self.0.lock();
        if *state != State::Staging {
            return Err(fail(&"the report was already placed or abandoned"));
        }
        let written = (|| {
            let mut file = fs::File::create(self.0.staging.join(name))?;
            file.write_all(bytes.as_ref())?;
            file.sync_all()
        })();
        written.map_err(|e| fail(&e))?;
        Ok(target)
    }

    /// Writes `value` as pretty-printed JSON with a final newline to the file `name`, as
    /// [`ReportDir::write`] does.
    pub fn write_json(&self, name: &str, value: &impl serde::Serialize) -> Result<PathBuf, String> {
        let mut text = serde_json::to_string_pretty(value)
            .map_err(|e| format!("cannot serialize {}: {e}", self.0.out.join(name).display()))?;
        text.push('\n');
        self.write(name, text)
    }

    /// Puts the report in place: renames the old `--out` aside, the staging directory to
    /// `--out`, and removes the old one. When another run's report lands at `--out` in
    /// between, that one is moved aside as well and the rename retried, up to
    /// [`PLACE_ATTEMPTS`] times. On failure the staging directory is removed, an old
    /// report moved aside is put back where `--out` is free, and the error says what
    /// happened.
    pub fn place(&self) -> Result<&Path, String> {
        let mut state = self.0.lock();
        if *state != State::Staging {
            return Err(format!(
                "cannot place the report in {}: it was already placed or abandoned",
                self.0.out.display()
            ));
        }
        if let Ok(dir) = fs::File::open(&self.0.staging) {
            let _ = dir.sync_all();
        }
        let (placed, asides) = swap_in(&self.0.staging, &self.0.target);
        let out = self.0.out.display();
        if let Err(e) = placed {
            *state = State::Abandoned;
            if let Some(last) = asides.last() {
                let _ = fs::rename(last, &self.0.target);
            }
            for aside in &asides {
                let _ = fs::remove_dir_all(aside);
            }
            self.0.remove_staging();
            return Err(format!("cannot place the report in {out}: {e}"));
        }
        *state = State::Placed;
        for aside in &asides {
            remove_aside(aside).map_err(|e| {
                format!(
                    "the report is in {out}, but the older report moved aside to {} \
                     could not be removed: {e}",
                    aside.display()
                )
            })?;
        }
        Ok(&self.0.out)
    }
}

impl Drop for ReportDir {
    /// A report dropped before it was placed leaves nothing behind.
    fn drop(&mut self) {
        let abandoned = {
            let mut state = self.0.lock();
            if *state == State::Staging {
                self.0.remove_staging();
                *state = State::Abandoned;
            }
            *state == State::Abandoned
        };
        if abandoned {
            registry().retain(|r| !Arc::ptr_eq(r, &self.0));
        }
    }
}

/// Removes the staging directory of every report of this process not yet placed (and
/// the parents made for it), then calls `then` with the paths of the reports that were
/// placed, still holding every report's lock: no report is written or placed
/// meanwhile, so `then` can exit the process without a report appearing after it.
pub fn abandon_all<R>(then: impl FnOnce(&[PathBuf]) -> R) -> R {
    let reports: Vec<Arc<Shared>> = registry().clone();
    let mut guards: Vec<MutexGuard<'_, State>> = reports.iter().map(|r| r.lock()).collect();
    let mut placed = Vec::new();
    for (report, state) in reports.iter().zip(guards.iter_mut()) {
        match **state {
            State::Staging => {
                report.remove_staging();
                **state = State::Abandoned;
            }
            State::Placed => placed.push(report.out.clone()),
            State::Abandoned => {}
        }
    }
    then(&placed)
}

fn registry() -> MutexGuard<'static, Vec<Arc<Shared>>> {
    REPORTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn plain_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']))
}

/// Creates the missing parents of `out`, outermost first, and returns those it made. A
/// parent another process creates meanwhile is used as it is. On failure the error names
/// the directory, and those made are removed again.
fn create_parents(out: &Path) -> Result<Vec<PathBuf>, String> {
    let mut missing: Vec<&Path> = out
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .take_while(|p| fs::symlink_metadata(p).is_err())
        .collect();
    missing.reverse();
    let mut created = Vec::new();
    for dir in missing {
        match fs::create_dir(dir) {
            Ok(()) => created.push(dir.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => {
                for made in created.iter().rev() {
                    let _ = fs::remove_dir(made);
                }
                return Err(format!("{}: {e}", dir.display()));
            }
        }
    }
    Ok(created)
}

/// Checks an existing `out` and creates the staging directory, write-checked with the
/// file name `longest`. Returns where the report goes and the staging directory.
fn prepare(out: &Path, longest: &str) -> Result<(PathBuf, PathBuf), String> {
    let target = match fs::symlink_metadata(out) {
        Ok(link) => {
            let is_link = link.file_type().is_symlink();
            let meta = if is_link {
                fs::metadata(out).map_err(|e| e.to_string())?
            } else {
                link
            };
            if !meta.is_dir() {
                return Err("it exists and is not a directory".into());
            }
            check_writable(out)?;
            check_not_mount_point(out)?;
            if is_link {
                fs::canonicalize(out).map_err(|e| e.to_string())?
            } else {
                out.to_path_buf()
            }
        }
        Err(_) => out.to_path_buf(),
    };
    let staging = sibling(&target, "staging");
    let what = |e: &dyn Display| format!("the staging directory {}: {e}", staging.display());
    fs::create_dir(&staging).map_err(|e| what(&e))?;
    let probe = staging.join(longest);
    let checked = fs::File::create(&probe).and_then(|_| fs::remove_file(&probe));
    if let Err(e) = checked {
        let _ = fs::remove_dir_all(&staging);
        return Err(what(&format!("cannot hold {longest}: {e}")));
    }
    Ok((target, staging))
}

/// Checks that a file can be created in the existing directory `out` (so that the old
/// report can be removed once the new one is in place). Another run may move the
/// directory aside meanwhile: the probe's path not found is tried again on what is at
/// `out` now, up to [`PLACE_ATTEMPTS`] times, and passes if `out` is gone or still being
/// replaced by other runs after that (each replacement was written by a run that could:
/// the staging directory's own check follows, and removing the old report at the end
/// says if it fails). The same directory answering "not found" (as `/proc` does) is not
/// writable.
fn check_writable(out: &Path) -> Result<(), String> {
    for _ in 0..PLACE_ATTEMPTS {
        let probe = out.join(format!(".write-check-{}", unique()));
        let before = identity(out);
        match fs::File::create(&probe) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => match identity(out) {
                None => return Ok(()),
                Some(now) if Some(now) == before => return Err(format!("it is not writable: {e}")),
                // `out` was moved aside and replaced meanwhile: look again.
                Some(_) => continue,
            },
            Err(_) if fs::symlink_metadata(out).is_err() => return Ok(()),
            Err(e) => return Err(format!("it is not writable: {e}")),
        }
        // Not found: the directory it was in was moved aside and removed.
        return match fs::remove_file(&probe) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(format!("removing the write check: {e}"))
            }
            _ => Ok(()),
        };
    }
    Ok(())
}

/// Which directory `path` names now (device and inode), or `None` if nothing is there.
#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Which directory `path` names now: only whether there is one, where inodes are not
/// to be had (a replacement then counts as the same directory).
#[cfg(not(unix))]
fn identity(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|_| (0, 0))
}

/// Refuses a directory that is a mount point: the report is put in place by renaming,
/// which cannot move one.
#[cfg(unix)]
fn check_not_mount_point(out: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    match (dev(out), dev(parent)) {
        (Some(a), Some(b)) if a != b => Err(
            "it is a mount point (the report is put in place by renaming a directory there)".into(),
        ),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_not_mount_point(_: &Path) -> Result<(), String> {
    Ok(())
}

/// `.<name>.<kind>-<pid>-<n>` beside `target`.
fn sibling(target: &Path, kind: &str) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    target.with_file_name(format!(".{name}.{kind}-{}", unique()))
}

fn unique() -> String {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Renames `staging` to `target`, moving what is at `target` aside first, and again
/// when another report lands there in between. Returns the outcome and the asides made.
fn swap_in(staging: &Path, target: &Path) -> (Result<(), String>, Vec<PathBuf>) {
    let mut asides = Vec::new();
    for _ in 0..PLACE_ATTEMPTS {
        let aside = sibling(target, "old");
        match fs::rename(target, &aside) {
            Ok(()) => asides.push(aside),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                let e = format!("cannot move {} aside: {e}", target.display());
                return (Err(e), asides);
            }
        }
        match fs::rename(staging, target) {
            Ok(()) => return (Ok(()), asides),
            Err(e) if taken(&e) => continue,
            Err(e) => return (Err(e.to_string()), asides),
        }
    }
    let e = format!(
        "other runs put their reports there each of {PLACE_ATTEMPTS} times it was moved aside"
    );
    (Err(e), asides)
}

/// Removes a directory moved aside. Another run's write check ([`check_writable`]) may
/// put a file in it meanwhile, and take it out again: a directory that is not empty
/// when the removal ends is removed again, up to [`PLACE_ATTEMPTS`] times.
fn remove_aside(aside: &Path) -> std::io::Result<()> {
    let mut result = fs::remove_dir_all(aside);
    for _ in 1..PLACE_ATTEMPTS {
        match &result {
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {}
            _ => break,
        }
        result = fs::remove_dir_all(aside);
    }
    result
}

/// Whether a rename failed because its destination is (again) a non-empty directory.
fn taken(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
    )
}

#[cfg(test)]
#[path = "report_dir_tests.rs"]
mod tests;

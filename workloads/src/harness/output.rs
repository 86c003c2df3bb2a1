//! The output directory of a run: created up front (with its parents) so a bad path fails
//! before any work, and written file by file through a temporary name and an atomic
//! rename, so a reader never sees a half-written report. Errors name the path.

use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary names written by threads of one process.
static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A directory that report files are written into.
#[derive(Clone, Debug)]
pub struct OutDir {
    path: PathBuf,
    /// The directories `create` made, outermost first (removed if the run dies early).
    created: Vec<PathBuf>,
}

impl OutDir {
    /// Creates `path` and any missing parents, or opens it if it is already a directory,
    /// and checks that a file can be written there. On failure the error names the path
    /// and the cause, and every directory this call created is removed again.
    pub fn create(path: impl AsRef<Path>) -> Result<OutDir, String> {
        let path = path.as_ref();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!(
                "cannot create the output directory {}: {what}{e}",
                path.display()
            )
        };
        if path.as_os_str().is_empty() {
            return Err(fail("", &"the path is empty"));
        }
        // The missing ancestors, outermost first, to undo on failure.
        let mut missing: Vec<&Path> = path
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .take_while(|p| fs::symlink_metadata(p).is_err())
            .collect();
        missing.reverse();
        let mut created: Vec<&Path> = Vec::new();
        let result = (|| {
            for dir in &missing {
                fs::create_dir(dir).map_err(|e| fail(&format!("{}: ", dir.display()), &e))?;
                created.push(dir);
            }
            let meta = fs::metadata(path).map_err(|e| fail("", &e))?;
            if !meta.is_dir() {
                return Err(fail("", &"it exists and is not a directory"));
            }
            let out = OutDir {
                path: path.to_path_buf(),
                created: created.iter().map(|d| d.to_path_buf()).collect(),
            };
            let probe = out.temp_path("write-check");
            fs::File::create(&probe).map_err(|e| fail("it is not writable: ", &e))?;
            fs::remove_file(&probe).map_err(|e| fail("removing the write check: ", &e))?;
            Ok(out)
        })();
        if result.is_err() {
            for dir in created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        }
        result
    }

    /// The directories [`OutDir::create`] made for it, outermost first.
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to the file `name` in the directory: to a hidden temporary file
    /// first (`.name.tmp-<pid>-<n>`), flushed to disk, then renamed over `name`, so the
    /// file appears whole or not at all. `name` must be a plain file name (no separators,
    /// not `.` or `..`). Returns the file's path; errors name it, and leave no temporary
    /// file behind.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<PathBuf, String> {
        let target = self.path.join(name);
        let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", target.display());
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(fail(&"the name must be a plain file name"));
        }
        let temp = self.temp_path(name);
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(bytes.as_ref())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &target)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(fail(&e));
        }
        Ok(target)
    }

    /// Writes `value` as pretty-printed JSON with a final newline to the file `name`, as
    /// [`OutDir::write`] does.
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<PathBuf, String> {
        let mut text = serde_json::to_string_pretty(value)
            .map_err(|e| format!("cannot serialize {}: {e}", self.path.join(name).display()))?;
        text.push('\n');
        self.write(name, text)
    }

    /// A temporary name for `name` in the directory, unique within this process.
    fn temp_path(&self, name: &str) -> PathBuf {
        let n = TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        self.path
            .join(format!(".{name}.tmp-{}-{n}", std::process::id()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh scratch directory under the system temp dir, removed on drop.
    pub(crate) struct Scratch(pub(crate) PathBuf);
    impl Scratch {
        pub(crate) fn new(tag: &str) -> Scratch {
            let n = TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("harness-output-{tag}-{}-{n}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The names in `dir`, sorted.
    pub(crate) fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_land_and_leave_no_temporaries() {
        let scratch = Scratch::new("writes");
        let out = OutDir::create(scratch.0.join("a/b/run")).unwrap();
        assert!(out.path().is_dir());
        let p = out.write("summary.json", b"{}\n").unwrap();
        assert_eq!(p, out.path().join("summary.json"));
        out.write("pauses.hgrm", "first").unwrap();
        out.write("pauses.hgrm", "second").unwrap();
        out.write_json("config.json", &serde_json::json!({"gogc": 100}))
            .unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join("pauses.hgrm")).unwrap(),
            "second"
        );
        let json = fs::read_to_string(out.path().join("config.json")).unwrap();
        assert_eq!(json, "{\n  \"gogc\": 100\n}\n");
        assert_eq!(
            names(out.path()),
            ["config.json", "pauses.hgrm", "summary.json"]
        );
        // An existing directory opens again.
        assert!(OutDir::create(out.path()).is_ok());
        assert_eq!(names(out.path()).len(), 3);
    }

    #[test]
    fn bad_names_are_refused_and_name_the_file() {
        let scratch = Scratch::new("names");
        let out = OutDir::create(&scratch.0).unwrap();
        for bad in ["", ".", "..", "a/b", "x\0y"] {
            let err = out.write(bad, "x").unwrap_err();
            assert!(err.contains("plain file name"), "{err}");
        }
        // A directory in the way of the rename: the error names the target.
        fs::create_dir(scratch.0.join("taken")).unwrap();
        fs::write(scratch.0.join("taken/inside"), "x").unwrap();
        let err = out.write("taken", "x").unwrap_err();
        assert!(
            err.contains(&scratch.0.join("taken").display().to_string()),
            "{err}"
        );
        assert_eq!(names(&scratch.0), ["taken"]);
    }

    #[test]
    fn a_path_under_a_file_fails_cleanly() {
        let scratch = Scratch::new("file");
        let file = scratch.0.join("plain");
        fs::write(&file, "not a directory").unwrap();
        let target = file.join("sub/run");
        let err = OutDir::create(&target).unwrap_err();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("cannot create the output directory"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");
        assert_eq!(names(&scratch.0), ["plain"]);

        let err = OutDir::create(&file).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn a_failure_part_way_removes_what_it_created() {
        let scratch = Scratch::new("rollback");
        // `new` and `new/deeper` are created, then a component longer than any file
        // system allows fails.
        let target = scratch.0.join("new/deeper").join("x".repeat(300));
        let err = OutDir::create(&target).unwrap_err();
        assert!(err.contains("xxxx"), "{err}");
        assert!(names(&scratch.0).is_empty(), "{:?}", names(&scratch.0));
    }
}

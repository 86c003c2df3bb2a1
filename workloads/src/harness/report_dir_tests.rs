//! Tests of [`super::ReportDir`]: a placed report replaces the older one whole and leaves
//! no staging or aside directory; a dropped one leaves nothing; concurrent reports into
//! one directory end with one report's files; unusable paths fail at creation.

use super::*;
use crate::harness::output::tests::{names, Scratch};

const FILES: [&str; 3] = ["a.txt", "bb.txt", "summary.json"];

/// Writes every file of [`FILES`] holding `token`.
fn write_all(report: &ReportDir, token: &str) {
    for f in FILES {
        report.write(f, token).unwrap();
    }
}

#[test]
fn a_placed_report_replaces_the_older_one_whole() {
    let scratch = Scratch::new("replace");
    let out = scratch.0.join("run");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("stale.txt"), "old").unwrap();
    fs::write(out.join("a.txt"), "old").unwrap();
    let report = ReportDir::create(&out, &FILES).unwrap();
    assert!(report.staging().is_dir());
    assert_eq!(
        names(&out),
        ["a.txt", "stale.txt"],
        "untouched while staging"
    );
    write_all(&report, "new");
    report
        .write_json("summary.json", &serde_json::json!({"n": 1}))
        .unwrap();
    assert_eq!(report.place().unwrap(), out.as_path());
    assert_eq!(names(&out), FILES);
    assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "new");
    let json = fs::read_to_string(out.join("summary.json")).unwrap();
    assert_eq!(json, "{\n  \"n\": 1\n}\n");
    assert_eq!(names(&scratch.0), ["run"], "no staging or aside left");
    assert!(report.write("a.txt", "late").is_err());
    assert!(report.place().is_err());
    drop(report);
    assert_eq!(names(&out), FILES);
}

#[test]
fn a_dropped_report_leaves_nothing() {
    let scratch = Scratch::new("drop");
    let out = scratch.0.join("a/b/run");
    let report = ReportDir::create(&out, &FILES).unwrap();
    assert_eq!(
        names(&scratch.0.join("a/b")).len(),
        1,
        "only the staging dir"
    );
    assert!(!out.exists());
    write_all(&report, "x");
    drop(report);
    assert!(names(&scratch.0).is_empty(), "{:?}", names(&scratch.0));
}

#[test]
fn bad_names_are_refused_and_name_the_file() {
    let scratch = Scratch::new("names");
    let report = ReportDir::create(scratch.0.join("run"), &FILES).unwrap();
    for bad in ["", ".", "..", "a/b", "x\0y"] {
        let err = report.write(bad, "x").unwrap_err();
        assert!(err.contains("plain file name"), "{err}");
    }
    let err = ReportDir::create(scratch.0.join("r2"), &["a/b"]).unwrap_err();
    assert!(err.contains("plain names"), "{err}");
    for path in ["", "/", "a/.."] {
        let err = ReportDir::create(path, &FILES).unwrap_err();
        assert!(err.contains("cannot create the output directory"), "{err}");
    }
}

#[test]
fn concurrent_reports_end_with_one_reports_files() {
    let scratch = Scratch::new("race");
    let out = scratch.0.join("run");
    std::thread::scope(|s| {
        for t in 0..4 {
            let out = &out;
            s.spawn(move || {
                for i in 0..25 {
                    let report = ReportDir::create(out, &FILES).unwrap();
                    write_all(&report, &format!("{t}-{i}"));
                    report.place().unwrap();
                }
            });
        }
    });
    assert_eq!(names(&out), FILES);
    let tokens: Vec<String> = FILES
        .iter()
        .map(|f| fs::read_to_string(out.join(f)).unwrap())
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(names(&scratch.0), ["run"], "no staging or aside left");
}

#[test]
fn unusable_paths_fail_at_creation_and_leave_nothing() {
    let scratch = Scratch::new("bad");
    let file = scratch.0.join("plain");
    fs::write(&file, "not a directory").unwrap();
    let err = ReportDir::create(file.join("sub/run"), &FILES).unwrap_err();
    assert!(err.contains(&file.display().to_string()), "{err}");
    let err = ReportDir::create(&file, &FILES).unwrap_err();
    assert!(err.contains("it exists and is not a directory"), "{err}");
    // Two new parents, then a name longer than any file system allows.
    let long = scratch.0.join("new/deeper").join("x".repeat(300));
    let err = ReportDir::create(&long, &FILES).unwrap_err();
    assert!(err.contains("cannot create the output directory"), "{err}");
    // A name that fits, but not with the staging directory's suffix.
    let err = ReportDir::create(scratch.0.join("y".repeat(250)), &FILES).unwrap_err();
    assert!(err.contains("staging directory"), "{err}");
    assert_eq!(names(&scratch.0), ["plain"]);
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");
}

#[cfg(unix)]
#[test]
fn a_symlinked_out_keeps_its_link() {
    let scratch = Scratch::new("link");
    let real = scratch.0.join("real");
    fs::create_dir(&real).unwrap();
    fs::write(real.join("old.txt"), "old").unwrap();
    let link = scratch.0.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let report = ReportDir::create(&link, &FILES).unwrap();
    write_all(&report, "new");
    report.place().unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(names(&link), FILES);
    assert_eq!(names(&scratch.0), ["link", "real"]);
}

//! Golden tests: the generated code of `tests/golden/sample.idol` is checked in as `sample.rs`,
//! and every `tests/broken/*.idol` fails with the exact message in its `.err` file. Run with
//! `BALLAST_BLESS=1` to rewrite the expected files after an intended change.

use std::fs;
use std::path::{Path, PathBuf};

use ballast_idl_gen::{generate, parse_file};

fn blessing() -> bool {
    std::env::var_os("BALLAST_BLESS").is_some_and(|v| v == "1")
}

fn check_or_bless(expected_path: &Path, actual: &str) {
    if blessing() {
        fs::write(expected_path, actual).expect("write the blessed file");
        return;
    }
    let expected = fs::read_to_string(expected_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BALLAST_BLESS=1)",
            expected_path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output; run with BALLAST_BLESS=1 if the change is intended\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        expected_path.display()
    );
}

#[test]
fn sample_generates_the_checked_in_code() {
    let iface = parse_file(Path::new("tests/golden/sample.idol")).expect("sample.idol is valid");
    check_or_bless(Path::new("tests/golden/sample.rs"), &generate(&iface));
}

#[test]
fn sample_ops_keep_their_explicit_ids_in_file_order() {
    let iface = parse_file(Path::new("tests/golden/sample.idol")).expect("sample.idol is valid");
    let ids: Vec<(&str, u16)> = iface
        .ops
        .iter()
        .map(|op| (op.name.as_str(), op.id))
        .collect();
    assert_eq!(
        ids,
        [
            ("reset", 9),
            ("configure_everything", 2),
            ("read_block", 3),
            ("write_block", 4),
            ("tricky_names", 5),
            ("set_mode", 6)
        ]
    );
}

fn broken_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir("tests/broken")
        .expect("tests/broken exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "idol"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_broken_file_fails_with_its_expected_message() {
    let files = broken_files();
    assert!(files.len() >= 20, "only {} broken files", files.len());
    for file in files {
        let error = match parse_file(&file) {
            Ok(iface) => panic!(
                "{} parsed as `{}` but must fail",
                file.display(),
                iface.name
            ),
            Err(error) => error,
        };
        assert_eq!(error.file, file, "the error names the file");
        check_or_bless(&file.with_extension("err"), &format!("{error}\n"));
    }
}

#[test]
fn interface_ids_clash_across_files() {
    let error = ballast_idl_gen::load_dir(Path::new("tests/clash")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "tests/clash/b.idol: interface id 5 of `Beta` is already used by `Alpha` \
         (tests/clash/a.idol)\n  help: give every interface its own id; ids are the ABI and \
         are never reused"
    );
}

#[test]
fn generated_code_is_rust_within_100_columns() {
    let mut files = vec![PathBuf::from("tests/golden/sample.idol")];
    files.extend(
        ballast_idl_gen::load_dir(Path::new("../../idl"))
            .unwrap()
            .into_iter()
            .map(|i| i.source),
    );
    for file in files {
        let code = generate(&parse_file(&file).unwrap());
        if let Err(error) = syn::parse_file(&code) {
            panic!(
                "the code generated from {} is not Rust: {error}",
                file.display()
            );
        }
        let widest = code.lines().map(str::len).max().unwrap_or(0);
        assert!(
            widest <= 100,
            "the code generated from {} has a line of {widest} columns",
            file.display()
        );
    }
}

#[test]
fn reordering_ops_and_errors_changes_no_abi() {
    let path = Path::new("tests/golden/sample.idol");
    let text = fs::read_to_string(path).unwrap();
    // Split into the header and the `[[...]]` tables, and put the tables in reverse order.
    let mut parts: Vec<&str> = text.split("\n[[").collect();
    let header = parts.remove(0);
    parts.reverse();
    let reordered = format!("{header}\n[[{}", parts.join("\n[["));
    assert_ne!(reordered, text);
    let original = parse_file(path).unwrap();
    let shuffled = ballast_idl_gen::parse_str(path, &reordered).unwrap();
    let by_id = |iface: &ballast_idl_gen::Interface| {
        let mut ops = iface.ops.clone();
        ops.sort_by_key(|op| op.id);
        let mut errors = iface.errors.clone();
        errors.sort_by_key(|error| error.value);
        (iface.id, iface.version, ops, errors)
    };
    assert_eq!(by_id(&original), by_id(&shuffled));
    assert_ne!(
        original.ops[0].name, shuffled.ops[0].name,
        "the order did change"
    );
}

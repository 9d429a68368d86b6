//! The repository explains itself: every citation of `docs/XEN-BEHAVIOUR.md#<fact>` names a fact
//! the document has, nothing points outside the repository for its design or its Xen facts, and
//! no document holds a path of the machine it was written on.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const XEN_BEHAVIOUR: &str = "docs/XEN-BEHAVIOUR.md";
/// Text kinds that hold code comments or prose.
const TEXT: [&str; 6] = ["rs", "md", "toml", "idol", "ld", "sh"];

/// Every text file of the checkout (build output, git and this test's own source aside).
fn text_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::from(ROOT)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|e| TEXT.iter().any(|t| e == *t))
            {
                files.push(path);
            }
        }
    }
    let me = Path::new(ROOT).join(file!());
    files.retain(|file| *file != me);
    files.sort();
    files
}

fn relative(file: &Path) -> String {
    file.strip_prefix(ROOT).unwrap().display().to_string()
}

/// The facts the document has: its `### ` headings.
fn documented_facts() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(XEN_BEHAVIOUR)).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(str::to_owned)
        .collect()
}

/// The anchors cited right after `XEN-BEHAVIOUR.md#` in `text` (the document's own
/// `#<heading>` template is not a citation).
fn cited_facts(text: &str) -> Vec<&str> {
    text.match_indices("XEN-BEHAVIOUR.md#")
        .map(|(at, marker)| {
            let rest = &text[at + marker.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|fact| !fact.is_empty())
        .collect()
}

#[test]
fn every_cited_xen_fact_is_in_the_document() {
    let facts = documented_facts();
    assert!(facts.len() >= 20, "{facts:?}");
    let mut citations = 0;
    for file in text_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for fact in cited_facts(&text) {
            citations += 1;
            assert!(
                facts.iter().any(|known| known == fact),
                "{}: cites {XEN_BEHAVIOUR}#{fact}, which has no such heading",
                relative(&file)
            );
        }
    }
    assert!(citations >= 10, "the code cites the document: {citations}");
}

#[test]
fn nothing_points_outside_the_repository() {
    let outside = [
        ["../", "shared"].concat(),
        ["XEN", "-FACTS"].concat(),
        ["DESIGN", ".md"].concat(),
    ];
    for file in text_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for pointer in &outside {
            assert!(
                !text.contains(pointer.as_str()),
                "{}: mentions {pointer}, which is not in the repository",
                relative(&file)
            );
        }
    }
}

#[test]
fn no_document_holds_a_machine_path() {
    let machine = [
        ["/", "work/"].concat(),
        ["/", "home/"].concat(),
        ["/", "root/"].concat(),
    ];
    for file in text_files() {
        if file.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&file).unwrap();
            for path in &machine {
                assert!(!text.contains(path.as_str()), "{}: {path}", relative(&file));
            }
        }
    }
}

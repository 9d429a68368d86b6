//! Checks `ballast_dom0_granter::gntalloc` against Linux's uapi header as Debian ships it
//! (`/usr/include/xen/sys/gntalloc.h`, from `libxen-dev`): a C probe compiled with the system
//! compiler prints the ioctl numbers, the flag, the structs' sizes and every field offset, and
//! the test compares each with ours.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use ballast_dom0_granter::gntalloc::{
    AllocGref, DeallocGref, ALLOC_GREF_C_SIZE, FLAG_WRITABLE, IOCTL_ALLOC_GREF, IOCTL_DEALLOC_GREF,
};

const HEADER: &str = "/usr/include/xen/sys/gntalloc.h";

/// Each entry: the C expression, and our value.
fn ours() -> Vec<(&'static str, u64)> {
    vec![
        ("IOCTL_GNTALLOC_ALLOC_GREF", IOCTL_ALLOC_GREF.into()),
        ("IOCTL_GNTALLOC_DEALLOC_GREF", IOCTL_DEALLOC_GREF.into()),
        ("GNTALLOC_FLAG_WRITABLE", FLAG_WRITABLE.into()),
        (
            "sizeof(struct ioctl_gntalloc_alloc_gref)",
            ALLOC_GREF_C_SIZE as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, domid)",
            offset_of!(AllocGref, domid) as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, flags)",
            offset_of!(AllocGref, flags) as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, count)",
            offset_of!(AllocGref, count) as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, index)",
            offset_of!(AllocGref, index) as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_alloc_gref, gref_ids)",
            offset_of!(AllocGref, gref_ids) as u64,
        ),
        (
            "sizeof(((struct ioctl_gntalloc_alloc_gref *)0)->gref_ids[0])",
            size_of::<u32>() as u64,
        ),
        (
            "sizeof(struct ioctl_gntalloc_dealloc_gref)",
            size_of::<DeallocGref>() as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_dealloc_gref, index)",
            offset_of!(DeallocGref, index) as u64,
        ),
        (
            "offsetof(struct ioctl_gntalloc_dealloc_gref, count)",
            offset_of!(DeallocGref, count) as u64,
        ),
    ]
}

fn probe_source(entries: &[(&str, u64)]) -> String {
    let mut source = String::from(
        "#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <sys/ioctl.h>\n\
         #include <xen/sys/gntalloc.h>\nint main(void) {\n",
    );
    for (expression, _) in entries {
        source.push_str(&format!(
            "    printf(\"%s=%llu\\n\", \"{expression}\", (unsigned long long)({expression}));\n"
        ));
    }
    source.push_str("    return 0;\n}\n");
    source
}

fn run_probe(source: &str) -> BTreeMap<String, u64> {
    assert!(
        Path::new(HEADER).exists(),
        "{HEADER} is missing: `apt-get install -y libxen-dev` (the README's test command and \
         .ci/run do this)"
    );
    let dir = std::env::temp_dir().join(format!("ballast-gntalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (c_file, binary) = (dir.join("probe.c"), dir.join("probe"));
    std::fs::write(&c_file, source).unwrap();
    let compile = Command::new("cc")
        .arg("-Wall")
        .arg("-o")
        .arg(&binary)
        .arg(&c_file)
        .output()
        .unwrap();
    assert!(
        compile.status.success(),
        "the C probe does not compile:\n{}",
        String::from_utf8_lossy(&compile.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    assert!(run.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.rsplit_once('=').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn structs_and_ioctl_numbers_match_linuxs_gntalloc_header() {
    let entries = ours();
    let c = run_probe(&probe_source(&entries));
    let mismatches: Vec<String> = entries
        .iter()
        .filter(|(expression, ours)| c.get(*expression) != Some(ours))
        .map(|(expression, ours)| format!("{expression}: ours {ours}, C {:?}", c.get(*expression)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "gntalloc ABI mismatches against {HEADER}:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(c.len(), entries.len(), "every entry was printed once");
}

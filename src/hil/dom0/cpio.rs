//! The initramfs archive: a cpio "newc" stream (what Linux unpacks into its root file system),
//! written from a sorted tree of directories, files, symlinks and device nodes, so that every
//! directory precedes what it holds and no host privilege (mknod) is needed.

use std::collections::BTreeMap;

/// One file system object in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file with its contents and permission bits.
    File { data: Vec<u8>, executable: bool },
    /// A symbolic link to `target`.
    Symlink(String),
    /// A character device.
    CharDevice { major: u32, minor: u32 },
}

/// A tree of archive paths (relative, without a leading `/`) to their nodes.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

impl Tree {
    /// Put `node` at `path`, with every missing parent directory; a later node at the same path
    /// replaces the earlier one.
    pub fn insert(&mut self, path: &str, node: Node) {
        let path = path.trim_start_matches('/');
        for (slash, _) in path.match_indices('/') {
            self.nodes
                .entry(path[..slash].to_string())
                .or_insert(Node::Dir);
        }
        self.nodes.insert(path.to_string(), node);
    }

    /// How many bytes the regular files hold.
    pub fn file_bytes(&self) -> usize {
        (self.nodes.values())
            .map(|node| match node {
                Node::File { data, .. } => data.len(),
                _ => 0,
            })
            .sum()
    }

    /// The archive: one newc record per node in path order, then the trailer.
    pub fn archive(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.file_bytes() + 128 * self.nodes.len());
        for (inode, (path, node)) in (1u32..).zip(&self.nodes) {
            let (mode, data, device): (u32, &[u8], (u32, u32)) = match node {
                Node::Dir => (S_IFDIR | 0o755, &[], (0, 0)),
                Node::File { data, executable } => {
                    let bits = if *executable { 0o755 } else { 0o644 };
                    (S_IFREG | bits, data, (0, 0))
                }
                Node::Symlink(target) => (S_IFLNK | 0o777, target.as_bytes(), (0, 0)),
                Node::CharDevice { major, minor } => (S_IFCHR | 0o600, &[], (*major, *minor)),
            };
            let links = if matches!(node, Node::Dir) { 2 } else { 1 };
            record(&mut out, inode, mode, links, path, data, device);
        }
        record(&mut out, 0, 0, 1, "TRAILER!!!", &[], (0, 0));
        out
    }
}

/// Append one newc record: the 110-byte header, the name and its NUL padded to 4 bytes, then
/// the data padded to 4 bytes.
fn record(
    out: &mut Vec<u8>,
    inode: u32,
    mode: u32,
    links: u32,
    name: &str,
    data: &[u8],
    (major, minor): (u32, u32),
) {
    let name_size = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let data_size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let fields = [
        inode, mode, 0, 0, links, 0, data_size, 0, 0, major, minor, name_size, 0,
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of an archive: (name, mode, data, rdev major, rdev minor).
    fn records(mut archive: &[u8]) -> Vec<(String, u32, Vec<u8>, u32, u32)> {
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(&archive[..6], b"070701", "magic at offset {offset}");
            let field = |index: usize| {
                let at = 6 + 8 * index;
                let text = std::str::from_utf8(&archive[at..at + 8]).unwrap();
                u32::from_str_radix(text, 16).unwrap() as usize
            };
            let (mode, size, major, minor, name_size) =
                (field(1), field(6), field(9), field(10), field(11));
            let name = std::str::from_utf8(&archive[110..110 + name_size - 1])
                .unwrap()
                .to_string();
            assert_eq!(archive[110 + name_size - 1], 0);
            let data_at = (110 + name_size).next_multiple_of(4);
            let data = archive[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            offset += next;
            archive = &archive[next..];
            if name == "TRAILER!!!" {
                assert!(archive.is_empty());
                return found;
            }
            found.push((name, mode as u32, data, major as u32, minor as u32));
        }
    }

    #[test]
    fn parents_come_first_and_every_kind_of_node_round_trips() {
        let mut tree = Tree::default();
        tree.insert(
            "/usr/lib/xen-4.17/bin/xl",
            Node::File {
                data: b"\x7fELF".to_vec(),
                executable: true,
            },
        );
        tree.insert("bin/sh", Node::Symlink("busybox".into()));
        tree.insert("dev/console", Node::CharDevice { major: 5, minor: 1 });
        tree.insert(
            "init",
            Node::File {
                data: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
        );
        let found = records(&tree.archive());
        let names: Vec<_> = found.iter().map(|record| record.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "init",
                "usr",
                "usr/lib",
                "usr/lib/xen-4.17",
                "usr/lib/xen-4.17/bin",
                "usr/lib/xen-4.17/bin/xl"
            ]
        );
        assert_eq!(found[0].1, 0o040_755);
        assert_eq!(
            (found[1].1, found[1].2.as_slice()),
            (0o120_777, &b"busybox"[..])
        );
        assert_eq!((found[3].1, found[3].3, found[3].4), (0o020_600, 5, 1));
        assert_eq!(
            (found[4].1, found[4].2.as_slice()),
            (0o100_755, &b"#!/bin/sh\n"[..])
        );
        assert_eq!(found[9].2, b"\x7fELF");
        assert_eq!(tree.file_bytes(), 14);
    }
}

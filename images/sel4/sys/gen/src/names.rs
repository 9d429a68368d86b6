//! Names: seL4's C identifiers (`TCBSetIPCBuffer`, `seL4_ARM_PageUpperDirectory`, `Clean_Data`)
//! split into words and rejoined as Rust wants them (snake case, screaming case, camel case).

/// Splits a C identifier into words: at underscores, at a lower-case letter or digit followed by
/// an upper-case one, and before the last capital of an acronym followed by lower case
/// (`IPCBuffer` -> `IPC`, `Buffer`). A lone capital joins the word after it (`CNode`).
pub fn words(identifier: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for part in identifier.split('_').filter(|part| !part.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut current = String::new();
        for (index, &c) in chars.iter().enumerate() {
            if index > 0 && c.is_ascii_uppercase() {
                let previous = chars[index - 1];
                let next_is_lower = chars.get(index + 1).is_some_and(|n| n.is_ascii_lowercase());
                let starts_word = previous.is_ascii_lowercase()
                    || previous.is_ascii_digit()
                    || (previous.is_ascii_uppercase() && next_is_lower);
                if starts_word && !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    join_lone_capitals(words)
}

fn join_lone_capitals(words: Vec<String>) -> Vec<String> {
    let mut joined: Vec<String> = Vec::with_capacity(words.len());
    let mut pending = String::new();
    for word in words {
        if word.len() == 1 && word.chars().all(|c| c.is_ascii_uppercase()) {
            pending.push_str(&word);
            continue;
        }
        joined.push(std::mem::take(&mut pending) + &word);
    }
    if !pending.is_empty() {
        joined.push(pending);
    }
    joined
}

/// `snake_case`, with a trailing underscore on a Rust keyword (`type` -> `type_`).
pub fn snake(identifier: &str) -> String {
    let name = words(identifier)
        .iter()
        .map(|word| word.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if RUST_KEYWORDS.contains(&name.as_str()) {
        name + "_"
    } else {
        name
    }
}

/// `SCREAMING_SNAKE_CASE`.
pub fn screaming(identifier: &str) -> String {
    words(identifier)
        .iter()
        .map(|word| word.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `CamelCase`: an all-capitals word becomes one capital and lower case (`TCB` -> `Tcb`), any
/// other word keeps its spelling with its first letter raised (`CNode`, `Page`).
pub fn camel(identifier: &str) -> String {
    words(identifier)
        .iter()
        .map(|word| {
            let all_capitals = word.chars().all(|c| !c.is_ascii_lowercase());
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            let rest: String = if all_capitals {
                chars.as_str().to_ascii_lowercase()
            } else {
                chars.as_str().to_owned()
            };
            first.into_iter().collect::<String>() + &rest
        })
        .collect()
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acronyms_split_before_the_capital_that_starts_the_next_word() {
        assert_eq!(snake("SetIPCBuffer"), "set_ipc_buffer");
        assert_eq!(snake("SetMCPriority"), "set_mc_priority");
        assert_eq!(screaming("TCBSetIPCBuffer"), "TCB_SET_IPC_BUFFER");
        assert_eq!(screaming("IRQIssueIRQHandler"), "IRQ_ISSUE_IRQ_HANDLER");
    }

    #[test]
    fn underscores_split_and_keywords_get_a_trailing_underscore() {
        assert_eq!(snake("Clean_Data"), "clean_data");
        assert_eq!(
            screaming("ARMPageGlobalDirectoryClean_Data"),
            "ARM_PAGE_GLOBAL_DIRECTORY_CLEAN_DATA"
        );
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("Move"), "move_");
        assert_eq!(snake("bufferFrame"), "buffer_frame");
    }

    #[test]
    fn a_lone_capital_joins_the_next_word() {
        assert_eq!(screaming("CNodeSaveCaller"), "CNODE_SAVE_CALLER");
        assert_eq!(camel("CNode"), "CNode");
    }

    #[test]
    fn camel_case_lowers_acronyms_and_keeps_mixed_words() {
        assert_eq!(camel("TCB"), "Tcb");
        assert_eq!(camel("IRQControl"), "IrqControl");
        assert_eq!(camel("ASIDPool"), "AsidPool");
        assert_eq!(camel("PageUpperDirectory"), "PageUpperDirectory");
        assert_eq!(camel("NBSend"), "NbSend");
    }
}

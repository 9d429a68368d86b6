//! The command line of `ballast-granter`.

use ballast_grant_offer::{Mode, MAX_REFS};

/// How to call it.
pub const USAGE: &str = "usage: ballast-granter --domid D --round R --mode M --pages N \
                         [--revoke-index K] [--claim-domid X] [--timeout-s S]";

/// How long the round waits for the domU's answer unless told.
pub const DEFAULT_TIMEOUT_S: u64 = 30;

/// One round, as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The domU the pages are granted to.
    pub domid: u16,
    /// The round, from 1.
    pub round: u32,
    /// What the domU is asked to do.
    pub mode: Mode,
    /// Pages granted, 1..=[`MAX_REFS`].
    pub pages: usize,
    /// The page whose grant is revoked before the offer is published, if any.
    pub revoke_index: Option<usize>,
    /// The granting domain the offer names (dom0's 0 unless told).
    pub claim_domid: u16,
    /// Seconds to wait for the domU's answer.
    pub timeout_s: u64,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value}: not a number in range"))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let (mut domid, mut round, mut mode, mut pages) = (None, None, None, None);
    let mut options = Options {
        domid: 0,
        round: 0,
        mode: Mode::Check,
        pages: 0,
        revoke_index: None,
        claim_domid: 0,
        timeout_s: DEFAULT_TIMEOUT_S,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--domid" => domid = Some(number(flag, value)?),
            "--round" => round = Some(number(flag, value)?),
            "--mode" => {
                mode = Some(Mode::from_word(value).ok_or_else(|| {
                    format!(
                    "--mode {value}: expected check, give-back-mapped, unlent-frame or die-mapped"
                )
                })?)
            }
            "--pages" => pages = Some(number(flag, value)?),
            "--revoke-index" => options.revoke_index = Some(number(flag, value)?),
            "--claim-domid" => options.claim_domid = number(flag, value)?,
            "--timeout-s" => options.timeout_s = number(flag, value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    options.domid = domid.ok_or("--domid is required")?;
    options.round = round.ok_or("--round is required")?;
    options.mode = mode.ok_or("--mode is required")?;
    options.pages = pages.ok_or("--pages is required")?;
    if options.round == 0 {
        return Err("--round counts from 1".into());
    }
    if !(1..=MAX_REFS).contains(&options.pages) {
        return Err(format!(
            "--pages {}: expected 1..={MAX_REFS}",
            options.pages
        ));
    }
    if let Some(index) = options.revoke_index {
        if index >= options.pages {
            return Err(format!(
                "--revoke-index {index}: expected a page below --pages {}",
                options.pages
            ));
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Options, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&args)
    }

    #[test]
    fn the_plans_rounds_parse() {
        let options =
            parse_line("--domid 1 --round 3 --mode check --pages 4 --revoke-index 2").unwrap();
        assert_eq!(
            options,
            Options {
                domid: 1,
                round: 3,
                mode: Mode::Check,
                pages: 4,
                revoke_index: Some(2),
                claim_domid: 0,
                timeout_s: DEFAULT_TIMEOUT_S,
            }
        );
        let options = parse_line(
            "--domid 2 --round 4 --mode die-mapped --pages 256 --claim-domid 7 --timeout-s 9",
        )
        .unwrap();
        assert_eq!(
            (
                options.mode,
                options.pages,
                options.claim_domid,
                options.timeout_s
            ),
            (Mode::DieMapped, 256, 7, 9)
        );
    }

    #[test]
    fn bad_usage_says_what_is_wrong() {
        for (line, what) in [
            ("--round 1 --mode check --pages 1", "--domid is required"),
            (
                "--domid 1 --round 0 --mode check --pages 1",
                "--round counts",
            ),
            ("--domid 1 --round 1 --mode check --pages 0", "--pages 0"),
            (
                "--domid 1 --round 1 --mode check --pages 257",
                "--pages 257",
            ),
            ("--domid 1 --round 1 --mode fly --pages 1", "--mode fly"),
            (
                "--domid 70000 --round 1 --mode check --pages 1",
                "--domid 70000",
            ),
            (
                "--domid 1 --round 1 --mode check --pages 4 --revoke-index 4",
                "--revoke-index 4",
            ),
            (
                "--domid 1 --round 1 --mode check --pages 1 --color",
                "--color needs",
            ),
            (
                "--domid 1 --round 1 --mode check --pages 1 --x 1",
                "unknown option --x",
            ),
        ] {
            let error = parse_line(line).unwrap_err();
            assert!(error.starts_with(what), "{line}: {error}");
        }
    }
}

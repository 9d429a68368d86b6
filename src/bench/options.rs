//! The options of `ballast bench`: where to write the JSON, how big the runs are, and which
//! PVH image to measure.

use std::path::PathBuf;

/// The usage line.
pub const USAGE: &str =
    "usage: ballast bench [--json FILE] [--size small|full] [--image PVH-ELF]\n  \
     --size small: everything in seconds (for tests); full (default): the published figures\n  \
     --image: the PVH image ELF to measure (default: where `ballast image` builds it)";

/// How big the runs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Seconds in total: for tests.
    Small,
    /// The published figures.
    Full,
}

impl Size {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Full => "full",
        }
    }
}

/// What `ballast bench` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Write the figures as JSON here.
    pub json: Option<PathBuf>,
    /// How big the runs are.
    pub size: Size,
    /// The PVH image ELF, if not the default.
    pub image: Option<PathBuf>,
    /// Print the usage and stop.
    pub help: bool,
}

impl BenchOptions {
    /// Parse the arguments after `bench`.
    pub fn parse(args: &[String]) -> Result<BenchOptions, String> {
        let mut options = BenchOptions {
            json: None,
            size: Size::Full,
            image: None,
            help: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--json" => options.json = Some(value()?.into()),
                "--image" => options.image = Some(value()?.into()),
                "--size" => {
                    options.size = match value()?.as_str() {
                        "small" => Size::Small,
                        "full" => Size::Full,
                        other => return Err(format!("--size {other}: expected small or full")),
                    }
                }
                "-h" | "--help" => options.help = true,
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse_and_bad_ones_are_named() {
        let options = BenchOptions::parse(&args(&["--size", "small", "--json", "x.json"])).unwrap();
        assert_eq!(options.size, Size::Small);
        assert_eq!(options.json, Some(PathBuf::from("x.json")));
        assert_eq!(BenchOptions::parse(&[]).unwrap().size, Size::Full);
        assert!(BenchOptions::parse(&args(&["--size", "huge"]))
            .unwrap_err()
            .contains("huge"));
        assert!(BenchOptions::parse(&args(&["--json"]))
            .unwrap_err()
            .contains("needs a value"));
        assert!(BenchOptions::parse(&args(&["--fast"]))
            .unwrap_err()
            .contains("--fast"));
    }
}

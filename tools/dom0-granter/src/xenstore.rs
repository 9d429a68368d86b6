//! The dom0's xenstore through its command-line clients (`xenstore-write`, `xenstore-read`, in
//! the dom0's initramfs).

use std::process::Command;

/// The absolute path of `key` in domain `domid`'s home.
pub fn domain_path(domid: u16, key: &str) -> String {
    format!("/local/domain/{domid}/{key}")
}

/// Writes `value` at `path`.
pub fn write(path: &str, value: &str) -> Result<(), String> {
    let output = Command::new("xenstore-write")
        .args([path, value])
        .output()
        .map_err(|error| format!("cannot run xenstore-write: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "xenstore-write {path} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// The value at `path`, if it exists (without the newline the client adds).
pub fn read(path: &str) -> Option<String> {
    let output = Command::new("xenstore-read").arg(path).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.strip_suffix('\n').unwrap_or(&text).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_under_the_domains_home() {
        assert_eq!(
            domain_path(3, ballast_grant_offer::keys::OFFER_KEY),
            "/local/domain/3/data/ballast/grant-offer"
        );
    }
}

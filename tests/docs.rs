//! Checklist 0.1-0.3: the security statement exists, and nothing calls this MFA or AAL2.

use std::fs;
use std::path::Path;

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn security_md_states_the_risk_decision_and_the_deviations() {
    let security = read("SECURITY.md");
    for needle in [
        "Risk acceptance",
        "not multi-factor authentication",
        "rows 2.3 and 9.3",
        "row 2.4",
        "row 14.1",
    ] {
        assert!(security.contains(needle), "SECURITY.md lacks {needle:?}");
    }
}

#[test]
fn the_readme_starts_with_the_two_commands() {
    let readme = read("README.md");
    let head: String = readme.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --example demo"), "{head}");
    assert!(head.contains("cargo test --all-features"), "{head}");
    let ci = read(".ci/run");
    assert!(
        ci.contains("cargo test --all-features\n"),
        "CI runs the README's test command"
    );
}

#[test]
fn no_document_claims_mfa_or_aal2() {
    let mut files = vec!["README.md".to_owned(), "SECURITY.md".to_owned()];
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(
                    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    for file in files {
        for (n, line) in read(&file).lines().enumerate() {
            let lower = line.to_lowercase();
            let claims =
                lower.contains("aal2") || lower.contains(" mfa") || lower.contains("multi-factor");
            // Denials, and citations of the OWASP MFA cheat sheet, are fine.
            let denies =
                lower.contains("not ") || lower.contains("never") || lower.contains("cheat sheet");
            assert!(!claims || denies, "{file}:{}: {line}", n + 1);
        }
    }
}

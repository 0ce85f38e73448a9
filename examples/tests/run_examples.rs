//! Runs every example to completion against the local server, so
//! `cargo test --workspace` (which builds the examples first) keeps them
//! working.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`, next to this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    profile_dir.join("examples").join(name)
}

/// Runs an example with no API key (so it uses the local server) and
/// returns its standard output.
fn run(name: &str) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace`, which builds the examples",
        path.display()
    );
    let started = Instant::now();
    let output = Command::new(&path)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("example starts");
    assert!(
        output.status.success(),
        "{name} failed after {:?}:\n{}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{name} ran too long"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn quickstart() {
    let out = run("quickstart");
    assert!(out.contains("using the local server"), "{out}");
    assert!(
        out.contains("no handshake to wait."),
        "the reply streamed: {out}"
    );
    assert!(
        out.contains("\"I'm <EMAIL_ADDRESS>. Write a haiku"),
        "the server saw the masked prompt: {out}"
    );
    assert!(out.contains("1 e-mail address(es) masked"), "{out}");
}

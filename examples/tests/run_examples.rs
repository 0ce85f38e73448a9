//! Runs every example to completion against the local server, so
//! `cargo test --workspace` (which builds the examples first) keeps them
//! working.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

/// The longest an example may run before it is stopped: they finish in
/// seconds, so only a hang reaches this, and the test then fails instead of
/// hanging.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Runs an example with no API key (so it uses the local server) and
/// returns its standard output.
fn run(name: &str) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace`, which builds the examples",
        path.display()
    );
    let mut child = Command::new(&path)
        .env_remove("OPENAI_API_KEY")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("example starts");
    // Read both pipes on threads so a chatty example cannot block on a full
    // pipe while we wait for it.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("example status") {
            break Some(status);
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => panic!("{name} failed ({status}):\n{stdout}\n{stderr}"),
        None => {
            panic!("{name} did not finish within {HANG_LIMIT:?}; stopped it:\n{stdout}\n{stderr}")
        }
    }
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

#[test]
fn observability() {
    let out = run("observability");
    for field in [
        "gen_ai.system=openai",
        "gen_ai.request.model=gpt-4o-mini",
        "gen_ai.usage.input_tokens=21",
        "gen_ai.usage.output_tokens=12",
        "gen_ai.response.finish_reasons",
        "openai_hooks.time_to_first_token_ms=",
        "openai_hooks.stream=true",
    ] {
        assert!(out.contains(field), "{field} missing:\n{out}");
    }
    assert!(
        out.contains("Spans, metrics and logs, all with the same names."),
        "{out}"
    );
}

#[test]
fn tokio_generic() {
    let out = run("tokio_generic");
    assert!(out.contains("32 tasks, 128 replies in all."), "{out}");
    assert!(out.contains("128 of them carried"), "{out}");
    // 32 tasks at once need about 32 connections (a few more when a request
    // starts just before another's connection goes back to the pool); with
    // reuse, far fewer than the 128 a client per request would open.
    let accepted: u32 = out
        .split("The server accepted ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("connection count printed");
    assert!(
        accepted <= 64,
        "{accepted} connections for 128 requests:\n{out}"
    );
}

#[test]
fn gateway_routing() {
    let out = run("gateway_routing");
    assert!(
        out.contains("asked  fast, served by fast-deployment"),
        "{out}"
    );
    assert!(
        out.contains("asked  fast, served by smart-deployment"),
        "long prompts move up: {out}"
    );
    assert!(out.contains("refused before sending"), "{out}");
    assert!(
        out.contains("(3 requests; the refused one never left)"),
        "{out}"
    );
    assert_eq!(out.matches("x-gateway-team=payments").count(), 3, "{out}");
}

#[test]
fn axum_lifespan() {
    let out = run("axum_lifespan");
    assert!(
        out.contains("POST /ask    -> \"My e-mail is <EMAIL_ADDRESS>;"),
        "{out}"
    );
    assert!(
        out.contains("POST /stream -> Call me at <PHONE_NUMBER> and explain keep-alive."),
        "{out}"
    );
    assert!(
        out.contains("references to the client left: 1 (ours)"),
        "{out}"
    );
    assert!(
        out.contains("saw 2 requests on 1 connection(s)"),
        "one pool for both handlers: {out}"
    );
}

#[test]
fn structured_output() {
    let out = run("structured_output");
    assert!(out.contains("category: Billing"), "{out}");
    assert!(out.contains("order:    A-1042"), "{out}");
    assert!(
        out.contains("second ticket refused, as a typed error"),
        "{out}"
    );
    assert!(
        out.contains("strict JSON schema String(\"Triage\")"),
        "{out}"
    );
}

#[test]
fn per_worker_runtimes() {
    let out = run("per_worker_runtimes");
    assert!(
        out.contains("runtime B's stream failed after 3 chunks"),
        "the failure is shown: {out}"
    );
    assert!(out.contains("4 clients made (one per runtime)"), "{out}");
    assert!(
        out.contains("clients still held after every runtime shut down: 0"),
        "{out}"
    );
}

#[test]
fn guardrails() {
    let out = run("guardrails");
    assert!(
        out.contains("output [\"Competitors\", \"Secret Keys\", \"URL Filter\"]"),
        "the bundle loaded: {out}"
    );
    assert!(
        out.contains("each call skips the handshake."),
        "the clean reply streamed whole: {out}"
    );
    assert!(
        out.contains("  Between the two, \n  stream stopped: hook `Competitors`"),
        "the stream stopped mid-way: {out}"
    );
    let reply = out
        .split("> Repeat exactly")
        .nth(1)
        .and_then(|rest| rest.split_once('\n'))
        .and_then(|(_prompt, rest)| rest.split("stream stopped").next())
        .expect("the second reply");
    assert!(
        !reply.contains("Acme"),
        "the name never reached the caller: {out}"
    );
    let stopped = out
        .lines()
        .find(|l| l.starts_with("  stream stopped:"))
        .expect("the stream stopped");
    assert!(
        !stopped.contains("Acme") && !stopped.contains("Globex"),
        "the error names no competitor: {stopped}"
    );
    assert!(
        out.contains("the user sees: The reply was blocked by a content policy."),
        "{out}"
    );
    assert!(out.contains("output     competitors  TRIPPED"), "{out}");
    assert!(
        out.contains("refused before sending: hook `budget`"),
        "{out}"
    );
    assert!(
        out.contains("2 chat request(s) and 2 moderation request(s)"),
        "the refused call never left: {out}"
    );
    assert!(
        out.contains("\"I'm <EMAIL_ADDRESS>. In one sentence"),
        "the server saw the masked prompt: {out}"
    );
}

#[test]
fn responses() {
    let out = run("responses");
    assert!(
        out.contains("  Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>."),
        "the deltas were masked: {out}"
    );
    assert!(
        out.contains("completed: Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>."),
        "the completed response repeats what was emitted: {out}"
    );
    assert!(out.contains("stream stopped: "), "{out}");
    assert!(
        !out.to_lowercase().contains("zephyr"),
        "the codename never reached the caller: {out}"
    );
    assert!(
        out.contains("the user sees: The reply was blocked by a content policy."),
        "{out}"
    );
    assert!(
        out.contains(
            "the first request left as: \"How do I reach support? My mail is <EMAIL_ADDRESS>\""
        ),
        "the request was masked before it left: {out}"
    );
}

#[test]
fn azure() {
    let out = run("azure");
    assert!(
        out.contains("the first request went to /openai/deployments/gpt-4o-mini/chat/completions?api-version="),
        "{out}"
    );
    let prompt = out
        .lines()
        .find(|l| l.starts_with("with the prompt"))
        .expect("the prompt sent");
    assert!(
        prompt.contains("Please answer me at <EMAIL_ADDRESS>") && !prompt.contains("jane.doe"),
        "the prompt was masked before it left: {out}"
    );
    assert!(
        out.contains("prompt 0 filter: 4 categories checked, filtered: false"),
        "{out}"
    );
    assert!(out.contains("completion filter: filtered: false"), "{out}");
}

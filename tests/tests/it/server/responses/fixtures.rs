//! The fixtures in `tests/fixtures/responses`: each parses, each stream
//! agrees with its JSON reply, and each replays byte for byte.

use openai_hooks::server::{LocalServer, Reply};
use serde_json::Value;

use super::check::{check, events};
use super::{post, request};
use crate::support::fixtures_dir;

fn fixture_files() -> Vec<std::path::PathBuf> {
    let dir = fixtures_dir().join("responses");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    files
}

#[tokio::test]
async fn every_fixture_parses_and_its_stream_matches_its_json() {
    for path in fixture_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if name.ends_with(".json") {
            let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r["object"], "response", "{name}");
            assert!(r["id"].as_str().unwrap().starts_with("resp_"), "{name}");
            continue;
        }
        assert!(name.ends_with(".sse"), "{name}");
        let evs = events(&text);
        assert!(!evs.is_empty(), "{name}");
        assert!(evs.iter().all(|e| e["type"].is_string()), "{name}");
        let known = |e: &&Value| {
            let t = e["type"].as_str().unwrap();
            t != "keepalive"
                && !t.starts_with("response.future_")
                && !t.starts_with("response.web_search_call.")
        };
        let pair = path.with_extension("json");
        if name.starts_with("no-sequence-number") {
            assert!(
                evs.iter().all(|e| e.get("sequence_number").is_none()),
                "{name}"
            );
            assert!(text.ends_with("data: [DONE]\n\n"), "{name}");
            assert!(
                text.contains("\n: keepalive\n") || text.contains(": keepalive"),
                "{name}"
            );
            continue;
        }
        // Renumber what the checker skips, so it sees a dense sequence.
        let seen: Vec<Value> = evs.iter().filter(known).cloned().collect();
        if seen.len() == evs.len() {
            let ended = check(&seen);
            if pair.exists() {
                let r: Value =
                    serde_json::from_str(&std::fs::read_to_string(&pair).unwrap()).unwrap();
                assert_eq!(ended.response.as_ref(), Some(&r), "{name}");
            }
        } else {
            // Sequence numbers still count every event.
            for (i, e) in evs.iter().enumerate() {
                assert_eq!(e["sequence_number"], i, "{name}");
            }
            let last = &evs.last().unwrap()["response"];
            let r: Value = serde_json::from_str(&std::fs::read_to_string(&pair).unwrap()).unwrap();
            assert_eq!(last, &r, "{name}");
        }
        if name.contains("obfuscation") {
            let deltas = evs
                .iter()
                .filter(|e| e["type"].as_str().unwrap().ends_with(".delta"));
            assert!(deltas.clone().count() > 0);
            assert!(
                deltas.into_iter().all(|e| e["obfuscation"].is_string()),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn fixtures_replay_byte_for_byte_on_the_responses_route() {
    let server = LocalServer::start().await.unwrap();
    for path in fixture_files() {
        let expected = std::fs::read(&path).unwrap();
        server.push(Reply::fixture(&path));
        let stream = path.extension().is_some_and(|e| e == "sse");
        let response = post(&server, &request(stream)).await;
        assert_eq!(response.status(), 200, "{path:?}");
        let content_type = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        assert_eq!(response.headers()["content-type"], content_type, "{path:?}");
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            expected.as_slice(),
            "{path:?}"
        );
    }
    server.shutdown().await;
}

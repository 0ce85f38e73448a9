use super::*;

fn api(status: u16, code: Option<&str>, kind: Option<&str>, message: &str) -> ApiError {
    ApiError {
        status: Some(status),
        code: code.map(str::to_owned),
        kind: kind.map(str::to_owned),
        param: None,
        message: message.to_owned(),
        retry_after: None,
    }
}

/// Error bodies as servers send them (recorded, or from the servers'
/// documentation and source), and how each is classified.
#[test]
fn context_overflows_from_every_server_are_recognised() {
    let overflows = [
        (
            400,
            Some("context_length_exceeded"),
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        ),
        (
            400,
            None,
            "The prompt (total length 9000) exceeds the max_model_len 8192. Please reduce prompt length.",
        ),
        (
            400,
            None,
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
        ),
        (
            400,
            None,
            "input length and max_tokens exceed context limit: 190000 + 32000 > 200000, decrease input length or max_tokens and try again",
        ),
        (400, None, "Too many tokens: the request has 140000 tokens."),
        (
            400,
            None,
            "Input tokens exceed customer model maximum of 272000.",
        ),
        (
            400,
            None,
            "litellm.ContextWindowExceededError: litellm.BadRequestError: OpenAIException - context length exceeded",
        ),
        (
            400,
            Some("context_length_exceeded"),
            "Please reduce the length of the messages or completion.",
        ),
        (
            400,
            None,
            "This endpoint's maximum context length is 8192 tokens. However, you requested about 9500 tokens.",
        ),
        (400, None, "the input length exceeds the context length"),
        (400, None, "Input is too long for requested model."),
        (
            400,
            None,
            "prompt is too long: 210000 tokens > 200000 maximum",
        ),
        (
            400,
            None,
            "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length",
        ),
        (
            400,
            None,
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        ),
    ];
    for (status, code, message) in overflows {
        let e = api(status, code, Some("invalid_request_error"), message);
        assert!(e.is_context_window_overflow(), "{message}");
        assert!(!e.is_throttling(), "{message}");
    }
}

#[test]
fn throttling_from_every_server_is_recognised() {
    let throttles = [
        (
            429,
            Some("rate_limit_exceeded"),
            Some("requests"),
            "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500.",
        ),
        (503, None, None, "Rate limit exceeded, please retry later."),
        (400, None, None, "Too many requests in flight for this key."),
        (429, Some("429"), None, "Provider returned error"),
        (
            429,
            None,
            None,
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier.",
        ),
        (
            429,
            Some("rate_limit_exceeded"),
            Some("tokens"),
            "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_x` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5800, Requested 900.",
        ),
        (
            429,
            None,
            None,
            "litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429",
        ),
        (
            503,
            None,
            None,
            "server busy, please try again. maximum pending requests exceeded",
        ),
        (529, None, Some("overloaded_error"), "Overloaded"),
        (
            400,
            None,
            None,
            "Too many tokens per minute for this deployment, please slow down.",
        ),
    ];
    for (status, code, kind, message) in throttles {
        let e = api(status, code, kind, message);
        assert!(e.is_throttling(), "{message}");
        assert!(!e.is_context_window_overflow(), "{message}");
    }
}

#[test]
fn exhausted_quota_is_neither() {
    let e = api(
        429,
        Some("insufficient_quota"),
        Some("insufficient_quota"),
        "You exceeded your current quota, please check your plan and billing details.",
    );
    assert!(e.is_quota_exhausted());
    assert!(!e.is_throttling());
    assert!(!e.is_context_window_overflow());
}

#[test]
fn error_bodies_read_the_same_in_every_shape() {
    let clean = |s: &str| crate::redact::scrub(s, Some("configured-key-123"));
    let object = r#"{"error": {"message": "no such model", "code": "model_not_found"}}"#;
    let e = ApiError::from_body(Some(404), object, &clean).unwrap();
    assert_eq!(
        (e.message.as_str(), e.code.as_deref()),
        ("no such model", Some("model_not_found"))
    );
    let string = r#"  {"error": "model 'x' not found"}"#;
    let e = ApiError::from_body(Some(404), string, &clean).unwrap();
    assert_eq!(e.message, "model 'x' not found");
    for other in [r#"{"detail": "x"}"#, r#"{"error": 3}"#, "<html>", ""] {
        assert!(
            ApiError::from_body(Some(500), other, &clean).is_none(),
            "{other}"
        );
        let e = ApiError::from_body_or_snippet(Some(500), other, &clean);
        assert_eq!(e.message, other, "the body itself, not a parse of it");
    }
}

#[test]
fn a_key_across_the_cut_is_scrubbed_before_the_cut() {
    let clean = |s: &str| crate::redact::scrub(s, Some("configured-key-123"));
    // The key starts just before the cut: cut first, what is left of it
    // would be too short to look like a key.
    let key = "sk-proj-Q7vX2mK9pL4nR8sT1wY6bC3dF5gH0jJ";
    for body in [
        format!("{}{key} and more", "x".repeat(SNIPPET_CHARS - 12)),
        format!("{}configured-key-123", "y".repeat(SNIPPET_CHARS - 6)),
    ] {
        let e = ApiError::from_body_or_snippet(Some(502), &body, &clean);
        assert!(e.message.chars().count() <= SNIPPET_CHARS + 1);
        assert!(!e.message.contains("sk-proj-Q7"), "{}", e.message);
        assert!(!e.message.contains("config"), "{}", e.message);
        let wrapped = serde_json::json!({"error": {"message": body}}).to_string();
        let e = ApiError::from_body(Some(502), &wrapped, &clean).unwrap();
        assert!(!e.message.contains("sk-proj-Q7"), "{}", e.message);
        assert!(!e.message.contains("config"), "{}", e.message);
    }
}

#[test]
fn other_errors_are_neither() {
    for (status, message) in [
        (400, "Invalid value for 'temperature': must be at most 2."),
        (401, "Incorrect API key provided."),
        (
            500,
            "The server had an error while processing your request. Sorry about that!",
        ),
        (
            404,
            "The model `gpt-9` does not exist or you do not have access to it.",
        ),
    ] {
        let e = api(status, None, None, message);
        assert!(!e.is_throttling(), "{message}");
        assert!(!e.is_context_window_overflow(), "{message}");
    }
}

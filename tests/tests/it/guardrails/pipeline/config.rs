//! Loading pipeline bundles: every guardrail name, and every kind of
//! mistake reported with its stage, entry and field.

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::pipeline::{
    KNOWN_NAMES, Pipeline, PipelineClients, PipelineError, PipelineStage,
};
use serde_json::{Value, json};

fn clients() -> PipelineClients {
    // Never called by these tests: nothing listens on port 9.
    PipelineClients::new()
        .openai(Client::with_config(
            OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"),
        ))
        .knowledge(
            "vs_abc123",
            openai_hooks::guardrails::References::texts(["A policy."]),
        )
}

fn one(stage: &str, name: &str, config: Value) -> Value {
    json!({"version": 1, stage: {"version": 1, "guardrails": [
        {"name": "Keyword Filter", "config": {"keywords": ["x"]}},
        {"name": name, "config": config},
    ]}})
}

fn load(bundle: &Value) -> Result<Pipeline, PipelineError> {
    Pipeline::from_value(bundle, &clients())
}

fn err(bundle: &Value) -> PipelineError {
    load(bundle).expect_err("the bundle is rejected")
}

#[test]
fn every_name_loads_in_every_stage() {
    let configs = [
        (
            "Contains PII",
            json!({"entities": ["EMAIL_ADDRESS", "US_SSN"], "block": true}),
        ),
        ("Keyword Filter", json!({"keywords": ["internal only."]})),
        ("Competitors", json!({"keywords": ["Acme"]})),
        (
            "Secret Keys",
            json!({"threshold": "strict", "custom_regex": ["my-key-[a-z]{8}"]}),
        ),
        (
            "URL Filter",
            json!({"url_allow_list": ["example.com", "10.0.0.0/8"], "allowed_schemes": ["https://", "HTTP"],
                   "block_userinfo": false, "allow_subdomains": true}),
        ),
        (
            "Moderation",
            json!({"categories": ["hate", "violence/graphic"]}),
        ),
        (
            "Jailbreak",
            json!({"model": "gpt-4.1-mini", "confidence_threshold": 0.8, "max_turns": 3, "include_reasoning": false}),
        ),
        (
            "Custom Prompt Check",
            json!({"model": "gpt-4.1-mini", "system_prompt_details": "Cooking only."}),
        ),
        (
            "NSFW Text",
            json!({"model": "gpt-4.1-mini", "confidence_threshold": 0.7}),
        ),
        (
            "Off Topic Prompts",
            json!({"model": "gpt-4.1-mini", "confidence_threshold": 0.7, "system_prompt_details": "Customer support for our product only."}),
        ),
        (
            "Prompt Injection Detection",
            json!({"model": "gpt-4.1-mini", "confidence_threshold": 0.7}),
        ),
        (
            "Hallucination Detection",
            json!({"model": "gpt-4.1-mini", "confidence_threshold": 0.7, "knowledge_source": "vs_abc123"}),
        ),
    ];
    assert_eq!(configs.len(), KNOWN_NAMES.len());
    let guardrails: Vec<Value> = configs
        .iter()
        .map(|(name, config)| json!({"name": name, "config": config}))
        .collect();
    let stage = json!({"version": 1, "guardrails": guardrails});
    let bundle = json!({"version": 1, "pre_flight": stage, "input": stage, "output": stage});
    let pipeline = load(&bundle).unwrap();
    for s in PipelineStage::ALL {
        assert_eq!(pipeline.names(s), KNOWN_NAMES);
    }
    // Defaults: configs may be left out where nothing is required.
    let bundle = json!({"version": 1, "output": {"version": 1, "guardrails": [
        {"name": "Contains PII"}, {"name": "Secret Keys", "config": {}},
        {"name": "URL Filter", "config": null}, {"name": "Moderation"},
    ]}});
    assert_eq!(load(&bundle).unwrap().names(PipelineStage::Output).len(), 4);
    // A bundle with no stage is an empty pipeline.
    assert!(
        load(&json!({"version": 1}))
            .unwrap()
            .names(PipelineStage::Input)
            .is_empty()
    );
}

#[test]
fn unknown_guardrails_name_the_stage_and_entry() {
    let e = err(&one("input", "Contains PIIs", json!({})));
    let PipelineError::UnknownGuardrail { at } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (at.stage, at.index, at.name.as_str()),
        (PipelineStage::Input, 1, "Contains PIIs")
    );
    let text = e.to_string();
    assert!(
        text.contains("input.guardrails[1]") && text.contains("Contains PII,"),
        "{text}"
    );
}

#[test]
fn unknown_fields_name_the_field() {
    for (name, config, field) in [
        (
            "Contains PII",
            json!({"entities": ["EMAIL_ADDRESS"], "mask": true}),
            "mask",
        ),
        (
            "Keyword Filter",
            json!({"keywords": ["a"], "case_sensitive": true}),
            "case_sensitive",
        ),
        ("Secret Keys", json!({"thresholds": "strict"}), "thresholds"),
        ("URL Filter", json!({"allow_list": []}), "allow_list"),
        ("Moderation", json!({"model": "omni"}), "model"),
        (
            "Jailbreak",
            json!({"model": "m", "system_prompt_details": "x"}),
            "system_prompt_details",
        ),
    ] {
        let e = err(&one("output", name, config));
        match &e {
            PipelineError::UnknownField {
                at,
                field: f,
                expected,
            } => {
                assert_eq!(
                    (at.stage, at.index, at.name.as_str()),
                    (PipelineStage::Output, 1, name)
                );
                assert_eq!(f, field);
                assert!(!expected.is_empty());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn missing_required_fields_name_the_field() {
    for (name, config, field) in [
        ("Keyword Filter", json!({}), "keywords"),
        ("Competitors", json!({}), "keywords"),
        ("Jailbreak", json!({"confidence_threshold": 0.5}), "model"),
        (
            "Custom Prompt Check",
            json!({"model": "m"}),
            "system_prompt_details",
        ),
    ] {
        match err(&one("pre_flight", name, config)) {
            PipelineError::MissingField { at, field: f } => {
                assert_eq!((at.stage, at.index), (PipelineStage::PreFlight, 1));
                assert_eq!(f, field, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn bad_values_name_the_field() {
    for (name, config, field) in [
        (
            "Contains PII",
            json!({"entities": "EMAIL_ADDRESS"}),
            "entities",
        ),
        (
            "Contains PII",
            json!({"entities": ["EMAIL_ADDRESS", "PERSON"]}),
            "entities[1]",
        ),
        ("Contains PII", json!({"entities": []}), "entities"),
        ("Contains PII", json!({"block": "yes"}), "block"),
        (
            "Keyword Filter",
            json!({"keywords": ["ok", 3]}),
            "keywords[1]",
        ),
        (
            "Keyword Filter",
            json!({"keywords": ["...", " "]}),
            "keywords",
        ),
        ("Secret Keys", json!({"threshold": "paranoid"}), "threshold"),
        (
            "Secret Keys",
            json!({"custom_regex": ["ok", "(unclosed"]}),
            "custom_regex[1]",
        ),
        (
            "URL Filter",
            json!({"url_allow_list": ["example.com", "http://[::1"]}),
            "url_allow_list[1]",
        ),
        (
            "URL Filter",
            json!({"allowed_schemes": [" ", "://"]}),
            "allowed_schemes",
        ),
        ("URL Filter", json!({"block_userinfo": 1}), "block_userinfo"),
        (
            "Moderation",
            json!({"categories": ["hate", "rudeness"]}),
            "categories[1]",
        ),
        (
            "Jailbreak",
            json!({"model": "m", "confidence_threshold": 1.5}),
            "confidence_threshold",
        ),
        (
            "Jailbreak",
            json!({"model": "m", "max_turns": 0}),
            "max_turns",
        ),
        (
            "Jailbreak",
            json!({"model": "m", "max_turns": -2}),
            "max_turns",
        ),
        (
            "Custom Prompt Check",
            json!({"model": "m", "system_prompt_details": "  "}),
            "system_prompt_details",
        ),
    ] {
        match err(&one("input", name, config.clone())) {
            PipelineError::BadValue {
                at,
                field: f,
                reason,
            } => {
                assert_eq!(
                    (at.stage, at.index, at.name.as_str()),
                    (PipelineStage::Input, 1, name)
                );
                assert_eq!(f, field, "{name} {config}");
                assert!(!reason.is_empty());
            }
            other => panic!("{name} {config}: {other:?}"),
        }
    }
}

#[test]
fn model_backed_guardrails_need_their_client() {
    for (name, config, client) in [
        ("Moderation", json!({}), "moderation"),
        ("Jailbreak", json!({"model": "m"}), "judge"),
        (
            "Custom Prompt Check",
            json!({"model": "m", "system_prompt_details": "x"}),
            "judge",
        ),
    ] {
        match Pipeline::from_value(&one("output", name, config), &PipelineClients::new()) {
            Err(PipelineError::MissingClient { at, client: c }) => {
                assert_eq!((at.index, c), (1, client));
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn the_bundle_shape_is_checked() {
    assert!(matches!(
        Pipeline::from_json("{not json", &clients()),
        Err(PipelineError::Json(_))
    ));
    assert!(matches!(
        err(&json!({"version": 2})),
        PipelineError::Version { ref path, .. } if path == "pipeline"
    ));
    assert!(matches!(
        err(&json!({"version": 1, "output": {"version": "1", "guardrails": []}})),
        PipelineError::Version { ref path, .. } if path == "output"
    ));
    assert!(matches!(
        err(&json!({"version": 1, "outptu": {"guardrails": []}})),
        PipelineError::UnknownStage { ref key } if key == "outptu"
    ));
    for (bundle, at) in [
        (json!([]), "pipeline"),
        (json!({"input": []}), "input"),
        (json!({"input": {"guardrails": {}}}), "input.guardrails"),
        (json!({"input": {"guardrail": []}}), "input.guardrail"),
        (
            json!({"input": {"guardrails": ["Moderation"]}}),
            "input.guardrails[0]",
        ),
        (
            json!({"input": {"guardrails": [{"config": {}}]}}),
            "input.guardrails[0].name",
        ),
        (
            json!({"input": {"guardrails": [{"name": "Moderation", "config": []}]}}),
            "input.guardrails[0].config",
        ),
        (
            json!({"input": {"guardrails": [{"name": "Moderation", "cfg": {}}]}}),
            "input.guardrails[0].cfg",
        ),
    ] {
        match err(&bundle) {
            PipelineError::Shape { path, .. } => assert_eq!(path, at, "{bundle}"),
            other => panic!("{bundle}: {other:?}"),
        }
    }
}

//! Reading a pipeline bundle: its shape, each guardrail's configuration,
//! and the errors that name where a bundle is wrong.

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

/// A stage of a pipeline, named as in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineStage {
    /// `pre_flight`: before the call; may rewrite the request (mask PII).
    PreFlight,
    /// `input`: alongside the call; a trip cancels it.
    Input,
    /// `output`: on the reply and on every streamed chunk.
    Output,
}

impl PipelineStage {
    /// The three stages, in the order they run.
    pub const ALL: [PipelineStage; 3] = [Self::PreFlight, Self::Input, Self::Output];

    /// The stage's key in a bundle.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreFlight => "pre_flight",
            Self::Input => "input",
            Self::Output => "output",
        }
    }
}

impl std::fmt::Display for PipelineStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a bundle an entry is: its stage, its position in the stage's
/// `guardrails` list (from 0) and its `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryAt {
    /// The stage.
    pub stage: PipelineStage,
    /// The entry's index in the stage's `guardrails`.
    pub index: usize,
    /// The entry's `name`, as written.
    pub name: String,
}

impl std::fmt::Display for EntryAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.guardrails[{}] ({:?})",
            self.stage, self.index, self.name
        )
    }
}

/// Why a pipeline bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The text is not JSON.
    #[error("the pipeline is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A part of the bundle has the wrong shape; `path` says which
    /// (`pipeline`, `input`, `input.guardrails[2]`, ...).
    #[error("`{path}` of the pipeline is malformed: {reason}")]
    Shape {
        /// Where.
        path: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A `version` other than 1.
    #[error("`{path}.version` is {found}; only version 1 is supported")]
    Version {
        /// `pipeline` or the stage.
        path: String,
        /// The version found.
        found: Value,
    },
    /// A top-level key that is not `version` or a stage.
    #[error("unknown pipeline key `{key}`: expected version, pre_flight, input or output")]
    UnknownStage {
        /// The key.
        key: String,
    },
    /// No guardrail of this name exists.
    #[error("{at}: unknown guardrail; known: {known}", known = super::KNOWN_NAMES.join(", "))]
    UnknownGuardrail {
        /// The entry.
        at: EntryAt,
    },
    /// A `config` field this guardrail does not have.
    #[error("{at}: unknown config field `{field}`; expected one of: {}", expected.join(", "))]
    UnknownField {
        /// The entry.
        at: EntryAt,
        /// The field.
        field: String,
        /// The fields this guardrail has.
        expected: &'static [&'static str],
    },
    /// A required `config` field is absent.
    #[error("{at}: config field `{field}` is required")]
    MissingField {
        /// The entry.
        at: EntryAt,
        /// The field.
        field: &'static str,
    },
    /// A `config` field's value is unusable; `field` is its path inside
    /// `config` (`entities[1]`).
    #[error("{at}: config field `{field}`: {reason}")]
    BadValue {
        /// The entry.
        at: EntryAt,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The guardrail calls a model and the loader was given no client for
    /// it (see [`PipelineClients`](super::PipelineClients)).
    #[error("{at}: needs a {client} client; give one with PipelineClients::{client}")]
    MissingClient {
        /// The entry.
        at: EntryAt,
        /// `judge` or `moderation`.
        client: &'static str,
    },
}

/// One entry of a stage, before its configuration is read.
pub(crate) struct RawEntry {
    pub(crate) at: EntryAt,
    pub(crate) config: Map<String, Value>,
}

/// Splits a bundle into its stages' entries, checking the shape around
/// them.
pub(crate) fn entries(bundle: &Value) -> Result<Vec<RawEntry>, PipelineError> {
    let top = bundle.as_object().ok_or(PipelineError::Shape {
        path: "pipeline".into(),
        reason: "expected a JSON object",
    })?;
    for key in top.keys() {
        if key != "version" && !PipelineStage::ALL.iter().any(|s| s.as_str() == key) {
            return Err(PipelineError::UnknownStage { key: key.clone() });
        }
    }
    version(top, "pipeline")?;
    let mut out = Vec::new();
    for stage in PipelineStage::ALL {
        let Some(body) = top.get(stage.as_str()) else {
            continue;
        };
        let path = stage.as_str();
        let body = body.as_object().ok_or(PipelineError::Shape {
            path: path.into(),
            reason: "expected an object with `version` and `guardrails`",
        })?;
        for key in body.keys() {
            if key != "version" && key != "guardrails" {
                return Err(PipelineError::Shape {
                    path: format!("{path}.{key}"),
                    reason: "unknown key: a stage has only `version` and `guardrails`",
                });
            }
        }
        version(body, path)?;
        let list = match body.get("guardrails") {
            None => continue,
            Some(Value::Array(list)) => list,
            Some(_) => {
                return Err(PipelineError::Shape {
                    path: format!("{path}.guardrails"),
                    reason: "expected a list",
                });
            }
        };
        for (index, entry) in list.iter().enumerate() {
            let epath = || format!("{path}.guardrails[{index}]");
            let obj = entry.as_object().ok_or_else(|| PipelineError::Shape {
                path: epath(),
                reason: "expected an object with `name` and `config`",
            })?;
            if let Some(key) = obj.keys().find(|k| *k != "name" && *k != "config") {
                return Err(PipelineError::Shape {
                    path: format!("{}.{key}", epath()),
                    reason: "unknown key: an entry has only `name` and `config`",
                });
            }
            let name =
                obj.get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| PipelineError::Shape {
                        path: format!("{}.name", epath()),
                        reason: "expected the guardrail's name, a string",
                    })?;
            let config = match obj.get("config") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(PipelineError::Shape {
                        path: format!("{}.config", epath()),
                        reason: "expected an object",
                    });
                }
            };
            out.push(RawEntry {
                at: EntryAt {
                    stage,
                    index,
                    name: name.to_owned(),
                },
                config,
            });
        }
    }
    Ok(out)
}

/// Checks an optional `version` (1 when present).
fn version(obj: &Map<String, Value>, path: &str) -> Result<(), PipelineError> {
    match obj.get("version") {
        None => Ok(()),
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(v) => Err(PipelineError::Version {
            path: path.into(),
            found: v.clone(),
        }),
    }
}

/// Reads an entry's `config` into `T` (a struct with
/// `deny_unknown_fields`): unknown fields, then values, each error naming
/// the field.
pub(crate) fn read<T: DeserializeOwned>(raw: &RawEntry) -> Result<T, PipelineError> {
    let expected = struct_fields::<T>();
    if let Some(field) = raw.config.keys().find(|k| !expected.contains(&k.as_str())) {
        return Err(PipelineError::UnknownField {
            at: raw.at.clone(),
            field: field.clone(),
            expected,
        });
    }
    let value = Value::Object(raw.config.clone());
    serde_path_to_error::deserialize(value).map_err(|e| PipelineError::BadValue {
        at: raw.at.clone(),
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

/// The field names serde's derive gave `T`, asked of serde itself: a
/// deserializer that only records what `deserialize_struct` is told.
/// Written here because serde has no public way to list a struct's fields.
pub(crate) fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::pii::PiiConfig;
    use crate::guardrails::url_filter::UrlConfig;

    #[test]
    fn serde_lists_the_fields() {
        assert_eq!(struct_fields::<PiiConfig>(), ["entities", "block"]);
        assert_eq!(
            struct_fields::<UrlConfig>(),
            [
                "url_allow_list",
                "allowed_schemes",
                "block_userinfo",
                "allow_subdomains"
            ]
        );
    }
}

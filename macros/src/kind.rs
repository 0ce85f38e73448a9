//! What each kind of hook means, in one table: the attribute that declares
//! it, the trait its field type implements, the stage it runs at, and how a
//! method hook of the kind is called; and what each API a client serves
//! means (its client trait, types, and the checks of each hook trait).
//!
//! Every other module asks these tables; none matches on a kind or an API
//! itself, so a new one is added here (and in `ALL`) and nowhere else.

/// A kind of hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    PreRequest,
    PostResponse,
    OnChunk,
}

/// What a kind of hook is, in the names generated code uses (all under the
/// runtime's `__private`).
pub(crate) struct Spec {
    /// The field attribute and the struct argument: `pre_request`.
    pub(crate) attr: &'static str,
    /// The trait a field hook's type implements: `PreRequest` (its check
    /// on a concrete type is per API: [`Api::hook_assert_fn`]).
    pub(crate) trait_name: &'static str,
    /// The `Stage` variant the hook runs at.
    pub(crate) stage: &'static str,
    /// The trait's method, which a field hook is run by.
    pub(crate) method: &'static str,
    /// What a method hook is run through: a function taking the method, or
    /// (for chunk hooks, which are not `async`) the `fn` type it is bound to.
    pub(crate) method_adapter: &'static str,
}

impl HookKind {
    /// Every kind, in the order errors and generated code list them.
    pub(crate) const ALL: [Self; 3] = [Self::PreRequest, Self::PostResponse, Self::OnChunk];

    /// The one match over kinds.
    pub(crate) const fn spec(self) -> Spec {
        match self {
            Self::PreRequest => Spec {
                attr: "pre_request",
                trait_name: "PreRequest",
                stage: "PreRequest",
                method: "pre_request",
                method_adapter: "pre_request_method",
            },
            Self::PostResponse => Spec {
                attr: "post_response",
                trait_name: "PostResponse",
                stage: "PostResponse",
                method: "post_response",
                method_adapter: "post_response_method",
            },
            // The stage is entered by the runtime's stream, per chunk.
            Self::OnChunk => Spec {
                attr: "on_chunk",
                trait_name: "OnChunk",
                stage: "Chunk",
                method: "on_chunk",
                method_adapter: "ChunkMethod",
            },
        }
    }

    /// The attribute (and struct argument) that declares a hook of this kind.
    pub(crate) const fn attr_name(self) -> &'static str {
        self.spec().attr
    }

    /// Every kind's attribute name.
    pub(crate) const fn attr_names() -> [&'static str; 3] {
        let [a, b, c] = Self::ALL;
        [a.attr_name(), b.attr_name(), c.attr_name()]
    }
}

/// An API a generated client serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Chat,
    Responses,
}

/// What serving an API means, in the names generated code uses (all under
/// the runtime's `__private`).
pub(crate) struct ApiSpec {
    /// The value of `api = ...` that selects it alone.
    pub(crate) arg: &'static str,
    /// The client trait the struct implements, and its inner field's type.
    pub(crate) client_trait: &'static str,
    /// The check of `client_trait` on a concrete inner type.
    pub(crate) client_assert_fn: &'static str,
    /// The request, reply, stream and stream item types.
    pub(crate) request: &'static str,
    pub(crate) response: &'static str,
    pub(crate) stream: &'static str,
    pub(crate) event: &'static str,
    /// Whether hook traits take the API's types as an explicit parameter
    /// (Chat's are their defaults).
    pub(crate) explicit: bool,
}

impl Api {
    /// Every API, in the order impls are generated.
    pub(crate) const ALL: [Self; 2] = [Self::Chat, Self::Responses];

    /// The one match over APIs.
    pub(crate) const fn spec(self) -> ApiSpec {
        match self {
            Self::Chat => ApiSpec {
                arg: "chat",
                client_trait: "ChatClient",
                client_assert_fn: "assert_chat_client",
                request: "ChatRequest",
                response: "ChatResponse",
                stream: "ChatStream",
                event: "ChatChunk",
                explicit: false,
            },
            Self::Responses => ApiSpec {
                arg: "responses",
                client_trait: "ResponsesClient",
                client_assert_fn: "assert_responses_client",
                request: "ResponsesRequest",
                response: "ResponsesResponse",
                stream: "ResponseStream",
                event: "ResponseEvent",
                explicit: true,
            },
        }
    }

    /// The type a hook of `kind` sees for this API.
    pub(crate) const fn operand(self, kind: HookKind) -> &'static str {
        let spec = self.spec();
        match kind {
            HookKind::PreRequest => spec.request,
            HookKind::PostResponse => spec.response,
            HookKind::OnChunk => spec.event,
        }
    }

    /// The check of `kind`'s trait for this API.
    pub(crate) const fn hook_assert_fn(self, kind: HookKind) -> &'static str {
        match (self, kind) {
            (Self::Chat, HookKind::PreRequest) => "assert_pre_request",
            (Self::Chat, HookKind::PostResponse) => "assert_post_response",
            (Self::Chat, HookKind::OnChunk) => "assert_on_chunk",
            (Self::Responses, HookKind::PreRequest) => "assert_responses_pre_request",
            (Self::Responses, HookKind::PostResponse) => "assert_responses_post_response",
            (Self::Responses, HookKind::OnChunk) => "assert_responses_on_chunk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Api, HookKind};

    #[test]
    fn every_api_is_listed_once() {
        for (i, api) in Api::ALL.into_iter().enumerate() {
            // Exhaustive, like the kinds below.
            let at = match api {
                Api::Chat => 0,
                Api::Responses => 1,
            };
            assert_eq!(at, i, "{api:?}");
        }
    }

    #[test]
    fn every_kind_is_listed_once() {
        for (i, kind) in HookKind::ALL.into_iter().enumerate() {
            // Exhaustive: a new kind does not compile until it is placed.
            let at = match kind {
                HookKind::PreRequest => 0,
                HookKind::PostResponse => 1,
                HookKind::OnChunk => 2,
            };
            assert_eq!(at, i, "{kind:?}");
        }
    }
}

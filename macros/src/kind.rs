//! What each kind of hook means, in one table: the attribute that declares
//! it, the trait its field type implements, the check of that trait, the
//! stage it runs at, and how a method hook of the kind is called.
//!
//! Every other module asks this table; none matches on a kind itself, so a
//! new kind is added here (and in `ALL`) and nowhere else.

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
    /// The trait a field hook's type implements: `PreRequest`.
    pub(crate) trait_name: &'static str,
    /// The `const fn` whose bound checks that trait on a concrete type.
    pub(crate) assert_fn: &'static str,
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
                assert_fn: "assert_pre_request",
                stage: "PreRequest",
                method: "pre_request",
                method_adapter: "pre_request_method",
            },
            Self::PostResponse => Spec {
                attr: "post_response",
                trait_name: "PostResponse",
                assert_fn: "assert_post_response",
                stage: "PostResponse",
                method: "post_response",
                method_adapter: "post_response_method",
            },
            // The stage is entered by the runtime's stream, per chunk.
            Self::OnChunk => Spec {
                attr: "on_chunk",
                trait_name: "OnChunk",
                assert_fn: "assert_on_chunk",
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

/// The `#[inner]` field's counterpart of [`Spec`]: its type is a client.
pub(crate) const CLIENT_TRAIT: &str = "ChatClient";
/// The check of [`CLIENT_TRAIT`] on a concrete type.
pub(crate) const CLIENT_ASSERT_FN: &str = "assert_chat_client";

#[cfg(test)]
mod tests {
    use super::HookKind;

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

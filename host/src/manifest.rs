//! The plugin manifest, from the `rollout-manifest` crate: the SDK's export
//! macros run the same parser when a plugin is built, so a manifest that
//! builds is one the host loads, and both refuse with the same message.

pub use rollout_manifest::*;

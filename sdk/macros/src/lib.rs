//! The export macros of `rollout-sdk` (use them through it: `rollout_sdk::tier!`,
//! `rollout_sdk::batched_tier!`, `rollout_sdk::check!`).
//!
//! Each entry point is named, `apply: my_fn`, never placed: the four tier
//! functions share one signature in pairs, so a positional list could run
//! the rollback as the apply and still compile. A missing, unknown or
//! repeated key is a compile error naming it.
//!
//! Each macro also reads the crate's `plugin.toml` with the host's own
//! parser ([`rollout_manifest::Manifest::parse`]) while the plugin is
//! built, so `make tiers` fails with the words `host run` would print: a
//! syntax error, a bad grant, a limit out of bounds, a kind that is not the
//! macro's world, an empty metric list. It then embeds exactly the bytes it
//! checked, and gives the declared metric names as constants (`metric::NAME`),
//! so the code names a metric the manifest declares or does not compile.

#![forbid(unsafe_code)]

mod entry;
mod metrics;

use entry::{Entries, World};
use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use rollout_manifest::{Kind, Manifest, Mode};

/// The file beside Cargo.toml every plugin crate carries.
const MANIFEST_FILE: &str = "plugin.toml";

/// See `rollout_sdk::tier!`.
#[proc_macro]
pub fn tier(input: TokenStream) -> TokenStream {
    expand(World::Tier, input)
}

/// See `rollout_sdk::batched_tier!`.
#[proc_macro]
pub fn batched_tier(input: TokenStream) -> TokenStream {
    expand(World::BatchedTier, input)
}

/// See `rollout_sdk::check!`.
#[proc_macro]
pub fn check(input: TokenStream) -> TokenStream {
    expand(World::Check, input)
}

fn expand(world: World, input: TokenStream) -> TokenStream {
    let result = syn::parse::Parser::parse(|s: syn::parse::ParseStream<'_>| Entries::parse(world, s), input).and_then(
        |entries| {
            let (path, bytes, manifest) = read_manifest()?;
            check_kind(world, &manifest)?;
            let metrics = metrics::constants(&manifest)?;
            let exports = entries.exports()?;
            Ok(quote! {
                const _: () = {
                    // Rebuilds the plugin when plugin.toml changes.
                    const _: &[u8] = include_bytes!(#path);
                    // The bytes the parser above accepted, as the component's manifest.
                    const BYTES: &[u8] = #bytes;
                    #[used]
                    #[link_section = "rollout-manifest"]
                    static MANIFEST: [u8; BYTES.len()] = {
                        let mut out = [0u8; BYTES.len()];
                        let mut i = 0;
                        while i < BYTES.len() {
                            out[i] = BYTES[i];
                            i += 1;
                        }
                        out
                    };
                };
                #metrics
                #exports
            })
        },
    );
    match result {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The crate's `plugin.toml`: its path, its bytes as a literal, and the
/// manifest the host's parser makes of it.
fn read_manifest() -> syn::Result<(String, syn::LitByteStr, Manifest)> {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| error("CARGO_MANIFEST_DIR is not set: build the plugin with cargo".into()))?;
    let path = std::path::Path::new(&dir).join(MANIFEST_FILE);
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| {
        error(format!("cannot read {shown}: {e}; a plugin crate carries its manifest beside its Cargo.toml"))
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| error(format!("{shown}: the manifest is not UTF-8")))?;
    // The context `host run` adds to the same error (plan.rs: "its manifest is invalid").
    let manifest = Manifest::parse(text).map_err(|e| error(format!("{shown}: its manifest is invalid: {e}")))?;
    Ok((shown, syn::LitByteStr::new(&bytes, Span::call_site()), manifest))
}

/// The manifest's `kind` is one this macro's world serves.
fn check_kind(world: World, manifest: &Manifest) -> syn::Result<()> {
    let batched = manifest.mode == Mode::Batched;
    let fits = match world {
        World::Tier => manifest.kind == Kind::Tier && !batched,
        World::BatchedTier => manifest.kind == Kind::Tier && batched,
        World::Check => manifest.kind != Kind::Tier,
    };
    if fits {
        return Ok(());
    }
    if manifest.kind == Kind::Tier && world != World::Check {
        let (wants, says) =
            if batched { (World::BatchedTier, "mode = \"batched\"") } else { (World::Tier, "no batched mode") };
        return Err(error(format!(
            "{MANIFEST_FILE} says kind = \"tier\" with {says}, so the plugin must export the `{}` world: build it \
             with rollout_sdk::{}!, not rollout_sdk::{}!",
            wants.name(),
            wants.macro_name(),
            world.macro_name(),
        )));
    }
    let (wants, other) = match world {
        World::Tier | World::BatchedTier => (World::Check, "a tier"),
        World::Check => (World::Tier, "a gate, verify or probe plugin"),
    };
    Err(error(format!(
        "{MANIFEST_FILE} says kind = \"{kind}\", so the plugin must export the `{}` world: build a {kind} with \
         rollout_sdk::{}!, not rollout_sdk::{}! (which builds {other})",
        wants.name(),
        wants.macro_name(),
        world.macro_name(),
        kind = manifest.kind,
    )))
}

fn error(message: String) -> syn::Error {
    syn::Error::new(Span::call_site(), message)
}

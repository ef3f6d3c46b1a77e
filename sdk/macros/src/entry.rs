//! The named entry points of a macro call, `key: function, …`, matched
//! against the world's exports by name.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Ident, Path, Token};

/// The WIT world a macro builds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum World {
    Tier,
    BatchedTier,
    Check,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::Tier => "tier",
            World::BatchedTier => "batched-tier",
            World::Check => "check",
        }
    }

    /// The macro that builds it.
    pub fn macro_name(self) -> &'static str {
        match self {
            World::Tier => "tier",
            World::BatchedTier => "batched_tier",
            World::Check => "check",
        }
    }

    /// Its entry points, in the order the example shows them.
    fn keys(self) -> &'static [&'static str] {
        match self {
            World::Tier => &["apply", "post_conditions", "rollback", "rollback_conditions"],
            World::BatchedTier => &["apply_batch", "post_conditions", "rollback_batch", "rollback_conditions"],
            World::Check => &["check"],
        }
    }

    /// A correct call, for the messages.
    fn example(self) -> String {
        let keys: Vec<String> = self.keys().iter().map(|k| format!("{k}: {k}")).collect();
        format!("rollout_sdk::{}! {{ {} }}", self.macro_name(), keys.join(", "))
    }
}

/// One `key: function`.
struct Entry {
    key: Ident,
    function: Path,
}

/// The call's entry points, each key one of the world's, each once.
pub struct Entries {
    world: World,
    functions: Vec<Path>,
}

impl Entries {
    pub fn parse(world: World, input: ParseStream<'_>) -> syn::Result<Entries> {
        let named = || {
            format!(
                "{}! takes its entry points by name, `key: function` (the key is the export, the value your \
                 function), e.g. `{}`",
                world.macro_name(),
                world.example()
            )
        };
        let list = Punctuated::<Entry, Token![,]>::parse_terminated_with(input, |s| {
            let key: Ident = s.parse()?;
            s.parse::<Token![:]>()?;
            Ok(Entry { key, function: s.parse()? })
        })
        .map_err(|e| syn::Error::new(e.span(), named()))?;
        let mut found: Vec<Option<Path>> = vec![None; world.keys().len()];
        for entry in list {
            let name = entry.key.to_string();
            let Some(at) = world.keys().iter().position(|k| *k == name) else {
                return Err(syn::Error::new(
                    entry.key.span(),
                    format!(
                        "`{name}` is not an entry point of a {} plugin; its entry points are {}",
                        world.name(),
                        list_keys(world)
                    ),
                ));
            };
            if found[at].is_some() {
                return Err(syn::Error::new(entry.key.span(), format!("the entry point `{name}` is given twice")));
            }
            found[at] = Some(entry.function);
        }
        let missing: Vec<String> =
            world.keys().iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(k, _)| format!("`{k}`")).collect();
        if !missing.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "{}! is missing the entry point{} {}: a {} plugin exports {}, e.g. `{}`",
                    world.macro_name(),
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    world.name(),
                    list_keys(world),
                    world.example()
                ),
            ));
        }
        Ok(Entries { world, functions: found.into_iter().flatten().collect() })
    }

    /// The `Guest` implementation and the world's export, each entry point
    /// calling its function through the SDK's guard (panic hook, error text).
    pub fn exports(&self) -> syn::Result<TokenStream> {
        let sdk = quote!(::rollout_sdk);
        let metrics = quote!(::std::vec::Vec<#sdk::Metric>);
        let err = quote!(::std::string::String);
        Ok(match (self.world, self.functions.as_slice()) {
            (World::Tier, [apply, post, rollback, undone]) => quote! {
                const _: () = {
                    struct RolloutTier;
                    impl #sdk::__bindings::tier::Guest for RolloutTier {
                        fn apply() -> ::core::result::Result<(), #err> {
                            let f: fn() -> #sdk::Result<()> = #apply;
                            #sdk::__guard(f)
                        }
                        fn post_conditions() -> ::core::result::Result<#metrics, #err> {
                            let f: fn() -> #sdk::Result<#metrics> = #post;
                            #sdk::__guard(f)
                        }
                        fn rollback() -> ::core::result::Result<(), #err> {
                            let f: fn() -> #sdk::Result<()> = #rollback;
                            #sdk::__guard(f)
                        }
                        fn rollback_conditions() -> ::core::result::Result<#metrics, #err> {
                            let f: fn() -> #sdk::Result<#metrics> = #undone;
                            #sdk::__guard(f)
                        }
                    }
                    #sdk::__bindings::tier::__export_tier!(RolloutTier with_types_in #sdk::__bindings::tier);
                };
            },
            (World::BatchedTier, [apply, post, rollback, undone]) => quote! {
                const _: () = {
                    struct RolloutBatchedTier;
                    impl #sdk::__bindings::batched::Guest for RolloutBatchedTier {
                        fn apply_batch(
                            position: ::core::option::Option<#err>,
                            size: u32,
                        ) -> ::core::result::Result<#sdk::Batch, #err> {
                            let f: fn(::core::option::Option<#err>, u32) -> #sdk::Result<#sdk::Batch> = #apply;
                            #sdk::__install_panic_hook();
                            f(position, size).map_err(|e| e.to_string())
                        }
                        fn post_conditions() -> ::core::result::Result<#metrics, #err> {
                            let f: fn() -> #sdk::Result<#metrics> = #post;
                            #sdk::__guard(f)
                        }
                        fn rollback_batch(
                            position: ::core::option::Option<#err>,
                            size: u32,
                        ) -> ::core::result::Result<#sdk::Batch, #err> {
                            let f: fn(::core::option::Option<#err>, u32) -> #sdk::Result<#sdk::Batch> = #rollback;
                            #sdk::__install_panic_hook();
                            f(position, size).map_err(|e| e.to_string())
                        }
                        fn rollback_conditions() -> ::core::result::Result<#metrics, #err> {
                            let f: fn() -> #sdk::Result<#metrics> = #undone;
                            #sdk::__guard(f)
                        }
                    }
                    #sdk::__bindings::batched::__export_batched_tier!(RolloutBatchedTier with_types_in #sdk::__bindings::batched);
                };
            },
            (World::Check, [check]) => quote! {
                const _: () = {
                    struct RolloutCheck;
                    impl #sdk::__bindings::check::Guest for RolloutCheck {
                        fn check(phase: #sdk::Phase) -> ::core::result::Result<#metrics, #err> {
                            let f: fn(#sdk::Phase) -> #sdk::Result<#metrics> = #check;
                            #sdk::__install_panic_hook();
                            f(phase).map_err(|e| e.to_string())
                        }
                    }
                    #sdk::__bindings::check::__export_check!(RolloutCheck with_types_in #sdk::__bindings::check);
                };
            },
            _ => return Err(syn::Error::new(Span::call_site(), "internal: entry points do not match the world")),
        })
    }
}

fn list_keys(world: World) -> String {
    let keys: Vec<String> = world.keys().iter().map(|k| format!("`{k}`")).collect();
    keys.join(", ")
}

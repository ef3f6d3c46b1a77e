//! The rollout's parameters, held to what the plugins' manifests declare.

use crate::error::Failure;
use crate::plan::Plan;
use std::collections::BTreeMap;

/// Every declared parameter must be given and match its pattern.
pub fn check_params(plan: &Plan, params: &BTreeMap<String, String>) -> Result<(), Failure> {
    for p in plan.all() {
        for (name, spec) in &p.manifest.params {
            let Some(value) = params.get(name) else {
                return Err(Failure::Params(format!(
                    "missing parameter `{name}` ({}), required by {}; pass --param {name}=…",
                    spec.description,
                    p.label()
                )));
            };
            let re = regex::Regex::new(&format!("^(?:{})$", spec.pattern))
                .map_err(|e| Failure::Params(format!("parameter `{name}` has an invalid pattern: {e}")))?;
            if !re.is_match(value) {
                return Err(Failure::Params(format!(
                    "parameter `{name}`={value:?} does not match `{}` ({}), required by {}",
                    spec.pattern,
                    spec.description,
                    p.label()
                )));
            }
        }
    }
    Ok(())
}

/// The value of the parameter a manifest marks as the approval reference.
pub(super) fn approval_ref<'a>(plan: &Plan, params: &'a BTreeMap<String, String>) -> Option<&'a str> {
    plan.all()
        .flat_map(|p| p.manifest.params.iter())
        .find(|(_, spec)| spec.approval)
        .and_then(|(name, _)| params.get(name).map(String::as_str))
}

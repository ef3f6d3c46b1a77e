//! The WIT contract, from the crate `rollout-world` (../world/): every
//! module that needs a WIT type imports it from here.

pub use rollout_world::*;

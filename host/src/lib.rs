//! The rollout host as a library: the binary (`main.rs`) is a thin shell
//! over [`cli::run`]; benchmarks reach the grants check through [`sql`].

pub mod audit;
pub mod bindings;
pub mod cli;
pub mod db;
pub mod digest;
pub mod error;
pub mod grants;
pub mod inspect;
pub mod ledger;
pub mod manifest;
pub mod outfile;
pub mod plan;
pub mod printer;
pub mod quote;
pub mod rehearsal_copy;
pub mod rehearse;
pub mod report;
pub mod roles;
pub mod runbook;
pub mod sandbox;
pub mod signal;
pub mod sql;
pub mod text;

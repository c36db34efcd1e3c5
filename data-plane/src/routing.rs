//! The routing engine: a snapshot's rules compiled into an immutable [`RouteTable`] and matched per
//! request in the seed's priority order — exact → prefix (longest first) → regex (rule order) →
//! semantic → default. The CLI links the same code for `route.explain`.

mod rule;
mod table;

pub use rule::{CompiledRule, Conditions, Target};
pub use table::{CompileError, Decision, RequestInfo, RouteTable, RuleScore, SemanticRanking};

#[cfg(test)]
mod tests;

//! Validation problems: each names the JSON path of the offending value, what is wrong, and what was found.

use std::fmt;

use serde::Serialize;

use crate::Path;

/// One thing wrong with a document, printed as `<path>: <problem>, got <value>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where in the document the offending value is.
    pub path: Path,
    /// What is wrong, phrased as what is expected.
    pub problem: String,
    /// The offending value as compact JSON, when there is one to show (secrets are never shown).
    pub got: Option<String>,
}

/// Every problem found in one document, in document order; printed one per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

/// Collects problems while walking a document; the validator of each section writes into it.
#[derive(Debug, Default)]
pub(crate) struct Check {
    problems: Vec<Problem>,
}

// === impl Problem ===

impl Problem {
    /// A problem at `path` with the offending value rendered as JSON.
    pub fn new(path: Path, problem: impl Into<String>, got: Option<String>) -> Self {
        Self {
            path,
            problem: problem.into(),
            got,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)?;
        if let Some(got) = &self.got {
            write!(f, ", got {got}")?;
        }
        Ok(())
    }
}

// === impl Problems ===

impl Problems {
    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, p) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

// === impl Check ===

impl Check {
    /// Records a problem, showing `got` as JSON (truncated when long).
    pub(crate) fn fail<T: Serialize + ?Sized>(
        &mut self,
        path: &Path,
        problem: impl Into<String>,
        got: &T,
    ) {
        let shown = if crate::secrets::is_secret_path(path) {
            format!("\"{}\"", crate::secrets::REDACTED)
        } else {
            render(got)
        };
        self.problems
            .push(Problem::new(path.clone(), problem, Some(shown)));
    }

    /// Records a problem that has no value to show (a missing key, say).
    pub(crate) fn missing(&mut self, path: &Path, problem: impl Into<String>) {
        self.problems
            .push(Problem::new(path.clone(), problem, None));
    }

    /// Records a required string that is empty or absent.
    pub(crate) fn require(&mut self, path: &Path, value: &str) -> bool {
        if value.trim().is_empty() {
            self.missing(path, "is required");
            return false;
        }
        true
    }

    /// Records a number outside `lo..=hi`.
    pub(crate) fn range<T: PartialOrd + Serialize + fmt::Display>(
        &mut self,
        path: &Path,
        v: T,
        lo: T,
        hi: T,
    ) {
        if !(v >= lo && v <= hi) {
            let problem = format!("must be within {lo}..={hi}");
            self.fail(path, problem, &v);
        }
    }

    /// Records a problem found by another check.
    pub(crate) fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// The problems collected so far.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// Renders a value as compact JSON, cut to a readable length.
pub(crate) fn render<T: Serialize + ?Sized>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "<unprintable>".to_string());
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

//! "Did you mean …?": the candidates closest to a mistyped name, best first.

/// The candidates within a small edit distance of `word` (at most a third of its length, at least 2),
/// closest first; ties keep the candidates' order.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, usize, &str)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| (distance(word, c), i, c))
        .filter(|(d, _, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, _, c)| c).collect()
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_suggestion_comes_first() {
        let verbs = [
            "config.rollback",
            "config.diff",
            "config.put",
            "config.get",
            "config.patch",
        ];
        assert_eq!(closest("config.gte", verbs)[0], "config.get");
        assert_eq!(
            closest("rulez", ["rules", "semantic", "defaultAgent"]),
            ["rules"]
        );
        assert!(closest("zzzzzz", ["rules"]).is_empty());
    }
}

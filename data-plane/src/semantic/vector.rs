//! Dense vector helpers: unit length, dot products against a row-major matrix.

/// Scales `v` to unit length (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

const CENTER: bool = true;

/// `a · b`, in eight independent lanes so the compiler can use SIMD (a single running sum cannot be
/// reordered, which keeps it scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Unit-length rows of one dimension, stored row after row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matrix {
    data: Vec<f32>,
    dim: usize,
    /// The mean of the rows as given, subtracted from rows and queries alike.
    center: Vec<f32>,
}

// === impl Matrix ===

impl Matrix {
    /// The rows `rows` (each normalized; all must have length `dim`).
    pub(crate) fn new(rows: Vec<Vec<f32>>, dim: usize) -> Self {
        let mut unit: Vec<Vec<f32>> = rows
            .into_iter()
            .map(|mut r| {
                r.resize(dim, 0.0);
                normalize(&mut r);
                r
            })
            .collect();
        // Centering removes what every request has in common ("please help me…"), so what is left
        // is what tells categories apart.
        let mut center = vec![0.0; dim];
        if CENTER && !unit.is_empty() {
            for r in &unit {
                center.iter_mut().zip(r).for_each(|(c, x)| *c += x);
            }
            let n = unit.len() as f32;
            center.iter_mut().for_each(|c| *c /= n);
            for r in &mut unit {
                r.iter_mut().zip(&center).for_each(|(x, c)| *x -= c);
                normalize(r);
            }
        }
        Self {
            data: unit.concat(),
            dim,
            center,
        }
    }

    /// The number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine of `q` (unit length) with every row.
    pub(crate) fn cosines(&self, q: &[f32]) -> Vec<f32> {
        if q.len() != self.dim {
            return vec![0.0; self.rows()];
        }
        let mut q: Vec<f32> = q.iter().zip(&self.center).map(|(x, c)| x - c).collect();
        normalize(&mut q);
        self.data
            .chunks_exact(self.dim)
            .map(|r| dot(r, &q))
            .collect()
    }

    /// Cosine of row `i` with every row (the library scored against itself, for calibration).
    pub(crate) fn row_cosines(&self, i: usize) -> Vec<f32> {
        let r = self.row(i);
        self.data
            .chunks_exact(self.dim)
            .map(|x| dot(x, r))
            .collect()
    }

    /// The rows `rows`, in that order, keeping this matrix's center.
    pub(crate) fn subset(&self, rows: &[usize]) -> Self {
        let mut data = Vec::with_capacity(rows.len() * self.dim);
        for &i in rows {
            data.extend_from_slice(self.row(i));
        }
        Self {
            data,
            dim: self.dim,
            center: self.center.clone(),
        }
    }
}

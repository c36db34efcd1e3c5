//! Raw similarities become calibrated confidences: a logistic curve (Platt scaling) fitted, when a
//! config is compiled, on the library itself — each utterance scored against its own category with
//! itself left out (in-domain), and off-topic requests scored against every category (out of domain).
//! A rule's `threshold` then means the same thing whatever the encoder: the chance that a request with
//! this score belongs to the category rather than to nothing we serve.

/// `confidence = 1 / (1 + exp(-(a·raw + b)))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Calibration {
    /// Slope.
    pub a: f64,
    /// Offset.
    pub b: f64,
}

// === impl Calibration ===

impl Calibration {
    /// The confidence of a raw similarity.
    pub(crate) fn confidence(&self, raw: f32) -> f64 {
        1.0 / (1.0 + (-(self.a * f64::from(raw) + self.b)).exp())
    }

    /// Fits the curve to in-domain (`positives`) and out-of-domain (`negatives`) scores, both classes
    /// weighted equally, with Platt's smoothed targets so a handful of examples cannot give 0 or 1.
    pub(crate) fn fit(positives: &[f32], negatives: &[f32]) -> Option<Self> {
        if positives.is_empty() || negatives.is_empty() {
            return None;
        }
        let (np, nn) = (positives.len() as f64, negatives.len() as f64);
        let t_pos = (np + 1.0) / (np + 2.0);
        let t_neg = 1.0 / (nn + 2.0);
        let samples: Vec<(f64, f64, f64)> = positives
            .iter()
            .map(|&x| (f64::from(x), t_pos, 0.5 / np))
            .chain(negatives.iter().map(|&x| (f64::from(x), t_neg, 0.5 / nn)))
            .collect();
        // Start from the line through the class means, then Newton steps on the weighted log loss.
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let (mp, mn) = (mean(positives), mean(negatives));
        let spread = (mp - mn).abs().max(1e-3);
        let mut a = 4.0 / spread;
        let mut b = -a * (mp + mn) / 2.0;
        let loss = |a: f64, b: f64| -> f64 {
            samples
                .iter()
                .map(|&(x, t, w)| {
                    let z = a * x + b;
                    // log(1 + e^z) - t·z, computed without overflow.
                    w * (z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z)
                })
                .sum()
        };
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(x, t, w) in &samples {
                let p = 1.0 / (1.0 + (-(a * x + b)).exp());
                let d = w * (p - t);
                ga += d * x;
                gb += d;
                let s = w * (p * (1.0 - p)).max(1e-12);
                haa += s * x * x;
                hab += s * x;
                hbb += s;
            }
            // A tiny ridge keeps the system solvable when the classes separate perfectly.
            haa += 1e-9;
            hbb += 1e-9;
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-24 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            // Damped Newton: halve the step until the loss goes down.
            let mut step = 1.0;
            let mut improved = false;
            for _ in 0..30 {
                let (na, nb) = (a - step * da, b - step * db);
                let l = loss(na, nb);
                if l.is_finite() && l <= current {
                    (a, b, current) = (na, nb, l);
                    improved = true;
                    break;
                }
                step /= 2.0;
            }
            if !improved || (step * da).abs() < 1e-9 && (step * db).abs() < 1e-9 {
                break;
            }
        }
        (a.is_finite() && b.is_finite() && a > 0.0).then_some(Self { a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_classes_monotonically() {
        let pos = [0.6, 0.7, 0.65, 0.8, 0.55, 0.75];
        let neg = [0.2, 0.3, 0.25, 0.35, 0.1, 0.4];
        let c = Calibration::fit(&pos, &neg).unwrap();
        assert!(c.confidence(0.8) > 0.9, "{c:?}");
        assert!(c.confidence(0.2) < 0.1, "{c:?}");
        assert!(c.confidence(0.5) > c.confidence(0.45));
        assert!((c.confidence(0.47) - 0.5).abs() < 0.2, "{c:?}");
    }

    #[test]
    fn refuses_what_it_cannot_fit() {
        assert_eq!(Calibration::fit(&[], &[0.1]), None);
        // Positives below negatives would need a negative slope: no calibration.
        assert_eq!(Calibration::fit(&[0.1, 0.2], &[0.8, 0.9]), None);
    }
}

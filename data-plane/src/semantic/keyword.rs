//! The `keyword` encoder: BM25 over the utterances, with words for alphabetic scripts and character
//! bigrams for Chinese, Japanese and Korean (which do not separate words with spaces). No weights at all,
//! so it is always available; it is also the fallback when a model cannot be loaded.

use std::collections::HashMap;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// A BM25 index over a list of documents (the utterances, in library order).
#[derive(Debug)]
pub(crate) struct Bm25 {
    /// Per document: term id → frequency.
    docs: Vec<HashMap<u32, f32>>,
    lengths: Vec<f32>,
    avg_len: f32,
    idf: Vec<f32>,
    vocab: HashMap<String, u32>,
    /// Each document's score against itself, the ceiling a similarity is measured against.
    self_scores: Vec<f32>,
}

// === impl Bm25 ===

impl Bm25 {
    /// Indexes `docs`.
    pub(crate) fn new<S: AsRef<str>>(docs: &[S]) -> Self {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut df: Vec<f32> = Vec::new();
        let mut indexed = Vec::with_capacity(docs.len());
        let mut lengths = Vec::with_capacity(docs.len());
        for d in docs {
            let terms = terms(d.as_ref());
            lengths.push(terms.len() as f32);
            let mut tf: HashMap<u32, f32> = HashMap::new();
            for t in terms {
                let next = vocab.len() as u32;
                let id = *vocab.entry(t).or_insert(next);
                if id as usize == df.len() {
                    df.push(0.0);
                }
                *tf.entry(id).or_default() += 1.0;
            }
            for id in tf.keys() {
                df[*id as usize] += 1.0;
            }
            indexed.push(tf);
        }
        let n = docs.len() as f32;
        let idf = df
            .iter()
            .map(|&f| ((n - f + 0.5) / (f + 0.5) + 1.0).ln())
            .collect();
        let avg_len = (lengths.iter().sum::<f32>() / n.max(1.0)).max(1.0);
        let mut index = Self {
            docs: indexed,
            lengths,
            avg_len,
            idf,
            vocab,
            self_scores: Vec::new(),
        };
        index.self_scores = docs
            .iter()
            .enumerate()
            .map(|(i, d)| index.raw(&index.query(d.as_ref()), i).max(1e-6))
            .collect();
        index
    }

    /// The documents `docs`, in that order, keeping the whole collection's term statistics.
    pub(crate) fn subset(&self, docs: &[usize]) -> Self {
        Self {
            docs: docs.iter().map(|&i| self.docs[i].clone()).collect(),
            lengths: docs.iter().map(|&i| self.lengths[i]).collect(),
            avg_len: self.avg_len,
            idf: self.idf.clone(),
            vocab: self.vocab.clone(),
            self_scores: docs.iter().map(|&i| self.self_scores[i]).collect(),
        }
    }

    /// Similarity of `text` to every document in 0..=1: its BM25 score over the document's own.
    pub(crate) fn similarities(&self, text: &str) -> Vec<f32> {
        let q = self.query(text);
        (0..self.docs.len())
            .map(|i| (self.raw(&q, i) / self.self_scores[i]).min(1.0))
            .collect()
    }

    fn query(&self, text: &str) -> Vec<(u32, f32)> {
        let mut q: HashMap<u32, f32> = HashMap::new();
        for t in terms(text) {
            if let Some(id) = self.vocab.get(&t) {
                *q.entry(*id).or_default() += 1.0;
            }
        }
        q.into_iter().collect()
    }

    fn raw(&self, q: &[(u32, f32)], doc: usize) -> f32 {
        let d = &self.docs[doc];
        let norm = K1 * (1.0 - B + B * self.lengths[doc] / self.avg_len);
        q.iter()
            .filter_map(|(id, qtf)| {
                let tf = *d.get(id)?;
                Some(self.idf[*id as usize] * tf * (K1 + 1.0) / (tf + norm) * qtf.min(2.0))
            })
            .sum()
    }
}

/// Lower-cased words of letters and digits, and bigrams of CJK characters (a lone one stays a unigram).
pub(crate) fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|w| w.iter().collect())),
        }
        cjk.clear();
    };
    for ch in text.chars() {
        if is_cjk(ch) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            cjk.push(ch);
        } else if ch.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.extend(ch.to_lowercase());
        } else {
            flush_cjk(&mut cjk, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    flush_cjk(&mut cjk, &mut out);
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn is_cjk(ch: char) -> bool {
    matches!(ch as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // CJK Extensions B–F, compatibility supplement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_and_cjk_bigrams() {
        assert_eq!(
            terms("帮我写Python代码!"),
            ["帮我", "我写", "python", "代码"]
        );
        assert_eq!(terms("Hello, 好"), ["hello", "好"]);
    }

    #[test]
    fn ranks_the_closer_document_first() {
        let idx = Bm25::new(&[
            "帮我写一段代码",
            "今天天气怎么样",
            "translate this to French",
        ]);
        let s = idx.similarities("写代码");
        assert!(s[0] > s[1] && s[0] > s[2], "{s:?}");
        let s = idx.similarities("please translate it");
        assert!(s[2] > 0.0 && s[0] == 0.0, "{s:?}");
        assert!(idx.similarities("帮我写一段代码")[0] >= 0.999);
    }
}

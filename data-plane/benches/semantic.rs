//! Semantic matching cost: embedding + scoring one request against 20 categories × 10 utterances with
//! the built-in encoder (and keyword BM25 for comparison), for a 20-character and a 2,000-character
//! message; plus the model's load time and resident memory. Run with
//! `cargo bench -p openclaw-data-plane --bench semantic`.
//!
//! Criterion reports means; the p50/p99 of single calls are printed first, since the target is a p99.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use openclaw_config::{Category, EncoderKind, Semantic};
use openclaw_data_plane::semantic::{ModelStore, SemanticIndex, StaticEncoder};
use serde_json::Value;

const SHORT: &str = "帮我写一个Python函数来反转列表"; // 20 characters
const LIBRARY: &str = include_str!("../semantic/categories.json");

/// 20 categories of 10 utterances, taken in order from the shipped library's texts.
fn twenty_by_ten() -> BTreeMap<String, Category> {
    let v: Value = serde_json::from_str(LIBRARY).expect("library");
    let texts: Vec<String> = v
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .flat_map(|(_, c)| c["utterances"].as_array().cloned().unwrap_or_default())
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    (0..20)
        .map(|i| {
            (
                format!("cat{i:02}"),
                Category {
                    utterances: texts[i * 10..i * 10 + 10].to_vec(),
                },
            )
        })
        .collect()
}

fn long_message() -> String {
    let unit =
        "我的程序在处理用户上传的CSV文件时报错了，The parser fails on quoted fields with commas. ";
    unit.chars().cycle().take(2000).collect()
}

fn index(encoder: EncoderKind) -> SemanticIndex {
    let categories = twenty_by_ten();
    let used: Vec<String> = categories.keys().cloned().collect();
    let cfg = Semantic {
        encoder,
        categories,
        ..Semantic::default()
    };
    SemanticIndex::build(&cfg, &used, &ModelStore::new()).expect("index")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentiles(name: &str, index: &SemanticIndex, text: &str) {
    let mut samples: Vec<f64> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            black_box(index.score_uncached(black_box(text)));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn bench(c: &mut Criterion) {
    let before = rss_kib();
    let t = Instant::now();
    let enc = StaticEncoder::builtin().expect("builtin model");
    println!(
        "builtin model: loaded in {:.0} ms, resident memory +{:.1} MiB (dim {})",
        t.elapsed().as_secs_f64() * 1e3,
        (rss_kib().saturating_sub(before)) as f64 / 1024.0,
        enc.dim()
    );
    let t = Instant::now();
    let builtin = index(EncoderKind::Builtin);
    println!(
        "index of 20 × 10 utterances built (with calibration) in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let keyword = index(EncoderKind::Keyword);
    let long = long_message();
    percentiles("builtin, 20 chars", &builtin, SHORT);
    percentiles("builtin, 2000 chars", &builtin, &long);
    percentiles("keyword, 20 chars", &keyword, SHORT);
    percentiles("keyword, 2000 chars", &keyword, &long);

    let mut g = c.benchmark_group("semantic");
    g.bench_function("builtin/20 chars", |b| {
        b.iter(|| builtin.score_uncached(black_box(SHORT)))
    });
    g.bench_function("builtin/2000 chars", |b| {
        b.iter(|| builtin.score_uncached(black_box(&long)))
    });
    g.bench_function("keyword/20 chars", |b| {
        b.iter(|| keyword.score_uncached(black_box(SHORT)))
    });
    g.bench_function("keyword/2000 chars", |b| {
        b.iter(|| keyword.score_uncached(black_box(&long)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! `cargo run --release -p openclaw-data-plane --bin semantic-eval [-- --file F] [--encoder E]… [--model2vec DIR]
//! [--top-k K] [--margin M] [--show-errors]`
//!
//! Routes every labelled request of the evaluation set (`data-plane/semantic/eval.jsonl`) through the
//! real routing table and semantic index, once per encoder, and prints accuracy on in-domain requests,
//! per-route precision and recall, the false-route rate of off-topic requests (label `none`, which must
//! reach the default rule), and the time to score one request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use http::{HeaderMap, Method};
use openclaw_data_plane::compiled::Compiled;
use openclaw_data_plane::proxy::ReqHeaders;
use openclaw_data_plane::routing::{Decision, RequestInfo};
use openclaw_data_plane::semantic::ModelStore;
use openclaw_data_plane::upstream::Registry;
use serde_json::{Value, json};

/// The eval routes: label → (categories, threshold). The seed's thresholds: 0.82 for chat, 0.78 else.
const ROUTES: &[(&str, &[&str], f64)] = &[
    ("chat", &["conversation"], 0.82),
    ("code", &["code", "programming", "debug"], 0.78),
    ("data", &["data", "analytics", "sql"], 0.78),
    ("translation", &["translation"], 0.78),
    ("summarization", &["summarization"], 0.78),
    ("math", &["math"], 0.78),
    ("writing", &["writing"], 0.78),
    ("search", &["search"], 0.78),
];

struct Item {
    text: String,
    label: String,
    lang: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("semantic/eval.jsonl");
    let mut encoders: Vec<String> = Vec::new();
    let mut model_dir: Option<String> = None;
    let mut show_errors = false;
    let mut top_k: Option<u32> = None;
    let mut margin: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--file" => file = args.next().context("--file needs a path")?.into(),
            "--encoder" => encoders.push(args.next().context("--encoder needs a name")?),
            "--model2vec" => {
                model_dir = Some(args.next().context("--model2vec needs a directory")?)
            }
            "--show-errors" => show_errors = true,
            "--top-k" => top_k = Some(args.next().context("--top-k needs a number")?.parse()?),
            "--margin" => margin = Some(args.next().context("--margin needs a number")?.parse()?),
            other => bail!("unknown argument {other}"),
        }
    }
    if encoders.is_empty() {
        encoders = vec!["builtin".into(), "keyword".into(), "hybrid".into()];
        if model_dir.is_some() {
            encoders.push("model2vec".into());
        }
    }
    let items = read_items(&file)?;
    println!(
        "{} requests from {} ({} off-topic)",
        items.len(),
        file.display(),
        items.iter().filter(|i| i.label == "none").count()
    );
    for enc in &encoders {
        evaluate(
            enc,
            model_dir.as_deref(),
            (top_k, margin),
            &items,
            show_errors,
        )
        .await?;
    }
    Ok(())
}

fn read_items(file: &PathBuf) -> anyhow::Result<Vec<Item>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut items = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        items.push(Item {
            text: field("text").with_context(|| format!("line {}: no text", n + 1))?,
            label: field("label").with_context(|| format!("line {}: no label", n + 1))?,
            lang: field("lang").unwrap_or_default(),
        });
    }
    Ok(items)
}

fn document(
    encoder: &str,
    model_dir: Option<&str>,
    (top_k, margin): (Option<u32>, Option<f64>),
) -> Value {
    let mut rules: Vec<Value> = ROUTES
        .iter()
        .map(|(name, cats, threshold)| {
            json!({"name": name, "match": {"type": "semantic", "threshold": threshold, "categories": cats}, "target": "agent"})
        })
        .collect();
    rules.push(json!({"name": "none", "match": {"type": "default"}, "target": "agent"}));
    let mut semantic = json!({"encoder": encoder});
    if let Some(m) = margin {
        semantic["margin"] = json!(m);
    }
    if let Some(k) = top_k {
        semantic["topK"] = json!(k);
    }
    if let Some(dir) = model_dir.filter(|_| encoder == "model2vec") {
        semantic["model2vec"] = json!({"path": dir});
    }
    json!({"gateway": {
        "agents": {"discovery": {"static": [{"id": "agent", "endpoint": "http://127.0.0.1:9"}]}},
        "routing": {"rules": rules, "semantic": semantic}
    }})
}

async fn evaluate(
    encoder: &str,
    model_dir: Option<&str>,
    tuning: (Option<u32>, Option<f64>),
    items: &[Item],
    show_errors: bool,
) -> anyhow::Result<()> {
    let registry = Registry::new();
    let started = Instant::now();
    let t = Compiled::build(
        &document(encoder, model_dir, tuning),
        1,
        &registry,
        &|_| None,
        &ModelStore::new(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let compile = started.elapsed();
    let index = t.semantic.as_ref().context("no semantic index")?;
    let headers = ReqHeaders::Map(HeaderMap::new());
    let info = RequestInfo {
        method: &Method::POST,
        path: "/eval",
        headers: &headers,
    };
    // (label, predicted) pairs, and scoring times.
    let mut results: Vec<(&str, String)> = Vec::new();
    let mut micros: Vec<f64> = Vec::new();
    let mut argmax_right = 0usize;
    for item in items {
        let t0 = Instant::now();
        let scores = index.score(&item.text).await;
        micros.push(t0.elapsed().as_secs_f64() * 1e6);
        let predicted = match t.routes.route(&info, Some(&scores)) {
            Decision::Matched { rule, .. } => rule.name.clone(),
            _ => "none".into(),
        };
        let ranking = t.routes.rank_semantic(&info, &scores);
        if item.label != "none"
            && ranking
                .ranked
                .first()
                .is_some_and(|r| r.rule.name == item.label)
        {
            argmax_right += 1;
        }
        if show_errors && predicted != item.label {
            let lead = ranking.ranked.first();
            println!(
                "  miss [{}] {:?}: want {}, got {} (lead {} {:.3}, runner-up {:.3})",
                item.lang,
                item.text,
                item.label,
                predicted,
                lead.map_or("-", |r| r.rule.name.as_str()),
                lead.map_or(0.0, |r| r.confidence),
                ranking.ranked.get(1).map_or(0.0, |r| r.confidence)
            );
        }
        results.push((item.label.as_str(), predicted));
    }
    registry.shutdown();
    let in_domain: Vec<&(&str, String)> = results.iter().filter(|(l, _)| *l != "none").collect();
    let correct = in_domain.iter().filter(|(l, p)| l == p).count();
    let off: Vec<&(&str, String)> = results.iter().filter(|(l, _)| *l == "none").collect();
    let false_routes = off.iter().filter(|(_, p)| p != "none").count();
    micros.sort_by(f64::total_cmp);
    let pct = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    println!("\n== encoder {encoder} ({}) ==", index.status());
    println!(
        "in-domain accuracy {:.1}% ({correct}/{}); best-rule accuracy ignoring thresholds {:.1}%",
        100.0 * correct as f64 / in_domain.len().max(1) as f64,
        in_domain.len(),
        100.0 * argmax_right as f64 / in_domain.len().max(1) as f64
    );
    println!(
        "off-topic false-route rate {:.1}% ({false_routes}/{})",
        100.0 * false_routes as f64 / off.len().max(1) as f64,
        off.len()
    );
    println!(
        "scoring time per request: p50 {:.1} µs, p99 {:.1} µs (first pass, no cache); index built in {:.0} ms",
        pct(0.5),
        pct(0.99),
        compile.as_secs_f64() * 1e3
    );
    let mut by_lang: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (item, (l, p)) in items.iter().zip(&results) {
        let e = by_lang.entry(item.lang.as_str()).or_default();
        e.1 += 1;
        if l == p {
            e.0 += 1;
        }
    }
    let langs: Vec<String> = by_lang
        .iter()
        .map(|(l, (ok, n))| format!("{l} {:.1}% of {n}", 100.0 * *ok as f64 / *n as f64))
        .collect();
    println!("correct by language (all labels): {}", langs.join(", "));
    println!(
        "{:<14} {:>9} {:>9} {:>6}",
        "route", "precision", "recall", "n"
    );
    for label in ROUTES.iter().map(|r| r.0).chain(["none"]) {
        let tp = results
            .iter()
            .filter(|(l, p)| *l == label && p == label)
            .count();
        let predicted = results.iter().filter(|(_, p)| p == label).count();
        let actual = results.iter().filter(|(l, _)| *l == label).count();
        println!(
            "{label:<14} {:>8.1}% {:>8.1}% {actual:>6}",
            100.0 * tp as f64 / predicted.max(1) as f64,
            100.0 * tp as f64 / actual.max(1) as f64
        );
    }
    Ok(())
}

//! The semantic stage's seam: a matcher scores a request's text against a rule's categories.
//!
//! [`KeywordMatcher`] is the simple built-in matcher: each category has Chinese and English cue words,
//! and the confidence grows with the number of distinct cues found. The multilingual encoder of the
//! semantic-routing work replaces it behind the same trait.

use std::collections::HashMap;

/// Scores how well a text fits some categories.
pub trait SemanticMatcher: Send + Sync {
    /// A confidence in 0..=1 that `text` belongs to one of `categories`.
    fn confidence(&self, text: &str, categories: &[String]) -> f64;

    /// A short name for logs and `/health`.
    fn name(&self) -> &'static str;
}

/// Cue words per category.
pub struct KeywordMatcher {
    cues: HashMap<&'static str, &'static [&'static str]>,
}

const CONVERSATION: &[&str] = &[
    "hello",
    "hi ",
    "hey",
    "how are you",
    "good morning",
    "thanks",
    "thank you",
    "chat",
    "weather",
    "joke",
    "你好",
    "您好",
    "天气",
    "聊天",
    "谢谢",
    "早上好",
    "笑话",
    "怎么样",
    "最近",
];
const QA: &[&str] = &[
    "what is",
    "what are",
    "why ",
    "who ",
    "when ",
    "where ",
    "explain",
    "question",
    "?",
    "什么",
    "为什么",
    "是谁",
    "哪里",
    "如何",
    "吗",
    "？",
];
const CODE: &[&str] = &[
    "code",
    "function",
    "python",
    "rust",
    "java",
    "javascript",
    "typescript",
    "golang",
    "c++",
    "class ",
    "compile",
    "script",
    "api",
    "refactor",
    "代码",
    "函数",
    "编程",
    "脚本",
    "写一个",
    "程序",
    "接口",
    "重构",
];
const DEBUG: &[&str] = &[
    "debug",
    "bug",
    "error",
    "exception",
    "stack trace",
    "traceback",
    "crash",
    "fails",
    "broken",
    "调试",
    "报错",
    "错误",
    "异常",
    "崩溃",
    "修复",
];
const DATA: &[&str] = &[
    "data",
    "dataset",
    "sql",
    "query",
    "table",
    "csv",
    "chart",
    "statistics",
    "analytics",
    "report",
    "数据",
    "分析",
    "报表",
    "统计",
    "查询",
    "图表",
];

// === impl KeywordMatcher ===

impl Default for KeywordMatcher {
    fn default() -> Self {
        let mut cues: HashMap<&'static str, &'static [&'static str]> = HashMap::new();
        for c in ["conversation", "general", "chat"] {
            cues.insert(c, CONVERSATION);
        }
        cues.insert("qa", QA);
        for c in ["code", "programming"] {
            cues.insert(c, CODE);
        }
        cues.insert("debug", DEBUG);
        for c in ["data", "analytics", "sql"] {
            cues.insert(c, DATA);
        }
        Self { cues }
    }
}

impl SemanticMatcher for KeywordMatcher {
    fn confidence(&self, text: &str, categories: &[String]) -> f64 {
        let lower = text.to_lowercase();
        let mut hits = 0usize;
        let mut seen: Vec<&str> = Vec::new();
        for cat in categories {
            // A category without cues matches its own name as a word.
            let own = [cat.as_str()];
            let list: &[&str] = self.cues.get(cat.as_str()).copied().unwrap_or(&own);
            for cue in list {
                if !seen.contains(cue) && lower.contains(&cue.to_lowercase()) {
                    seen.push(cue);
                    hits += 1;
                }
            }
        }
        match hits {
            0 => 0.0,
            1 => 0.85,
            2 => 0.95,
            _ => 0.99,
        }
    }

    fn name(&self) -> &'static str {
        "keyword"
    }
}

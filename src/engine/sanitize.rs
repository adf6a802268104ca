//! Failure reasons are shown to operators and stored in `failures`: they
//! must never carry secrets, tokens, connection strings, stack traces or raw
//! payloads. Everything written there passes through here.

use regex::Regex;
use std::sync::LazyLock;

/// Longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 200;

static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // URLs and connection strings (they may embed credentials or hosts).
        (r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\x22<>]+", "[redacted url]"),
        // Authorization headers and bearer tokens.
        (r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{6,}", "$1 [redacted]"),
        // key=value or key: value pairs whose key names a secret.
        (
            r#"(?i)\b([a-z0-9_-]*(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|authorization|session|cookie)[a-z0-9_-]*)\x22?\s*[=:]\s*\x22?[^\s,;\x22'}]+"#,
            "$1=[redacted]",
        ),
        // JSON web tokens.
        (r"\beyJ[a-zA-Z0-9_-]{5,}\.[a-zA-Z0-9_-]{5,}\.[a-zA-Z0-9_-]+", "[redacted token]"),
        // Long opaque strings: keys, hashes, base64 blobs.
        (r"\b[A-Za-z0-9+/_-]{32,}={0,2}", "[redacted]"),
        // Raw JSON or structured payloads.
        (r"[\[{].*[\]}]", "[payload omitted]"),
        // Email addresses.
        (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", "[redacted email]"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("valid pattern"), replacement))
    .collect()
});

/// A short, safe, single-line reason.
pub fn sanitize_reason(raw: &str) -> String {
    // Only the first line: stack traces and multi-line dumps stop here.
    let first = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    // Drop a Rust/Java/Python-style location suffix (" at src/x.rs:1:2").
    let mut text = first.split(" at ").next().unwrap_or(first).to_string();
    for (re, replacement) in RULES.iter() {
        text = re.replace_all(&text, *replacement).into_owned();
    }
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    let text = text.trim();
    if text.is_empty() {
        return "The item could not be processed.".to_string();
    }
    if text.chars().count() > MAX_REASON_CHARS {
        let cut: String = text.chars().take(MAX_REASON_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        text.to_string()
    }
}

/// A stable snake_case reason code (`[a-z0-9_]`, at most 64 characters).
pub fn sanitize_code(raw: &str) -> String {
    let mut code = String::new();
    for c in raw.trim().chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_lowercase());
        } else if !code.ends_with('_') && !code.is_empty() {
            code.push('_');
        }
    }
    let code = code.trim_end_matches('_');
    let code: String = code.chars().take(64).collect();
    if code.is_empty() || !code.starts_with(|c: char| c.is_ascii_lowercase()) {
        "unknown_error".to_string()
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: [&str; 9] = [
        "hunter2",
        "s3cr3t-pa55",
        "sk_live_51Habcdefghijklmnopqrstuvwx",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "db.internal.example",
        "AKIAIOSFODNN7EXAMPLEKEY1234567890ab",
        "raw-setting-value",
        "olivia@contoso.example",
        "panicked",
    ];

    #[test]
    fn no_secret_survives_sanitizing() {
        let errors = [
            "connection failed: postgres://admin:hunter2@db.internal.example:5432/opshub",
            "upstream said 401 with Authorization: Bearer sk_live_51Habcdefghijklmnopqrstuvwx",
            "login failed for password=s3cr3t-pa55 user=ops",
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N expired",
            "api_key: \"AKIAIOSFODNN7EXAMPLEKEY1234567890ab\" rejected",
            "invalid policy {\"settings\": {\"wifi_psk\": \"raw-setting-value\"}}",
            "notify olivia@contoso.example failed",
            "thread 'worker' panicked\n   0: std::backtrace\n   1: opshub::engine at src/engine/worker.rs:10",
            "graph call failed at src/engine/panicked.rs:12:5",
        ];
        for raw in errors {
            let clean = sanitize_reason(raw);
            for secret in SECRETS {
                if secret == "panicked" && raw.starts_with("thread") {
                    continue; // the first line of a panic is a fine summary
                }
                assert!(
                    !clean.contains(secret),
                    "{secret:?} survived in {clean:?} (from {raw:?})"
                );
            }
            assert!(!clean.contains('\n'));
            assert!(clean.chars().count() <= MAX_REASON_CHARS);
        }
    }

    #[test]
    fn plain_reasons_are_kept() {
        assert_eq!(
            sanitize_reason("No policy with this id exists in this tenant."),
            "No policy with this id exists in this tenant."
        );
    }

    #[test]
    fn long_reasons_are_cut_and_empty_ones_replaced() {
        let long = "word ".repeat(100);
        let clean = sanitize_reason(&long);
        assert!(clean.ends_with('…'));
        assert!(clean.chars().count() <= MAX_REASON_CHARS);
        assert_eq!(sanitize_reason("\n\n"), "The item could not be processed.");
    }

    #[test]
    fn reason_codes_are_stable_snake_case() {
        assert_eq!(sanitize_code("Policy Not Found"), "policy_not_found");
        assert_eq!(sanitize_code("HTTP-429/too many"), "http_429_too_many");
        assert_eq!(sanitize_code("42"), "unknown_error");
        assert_eq!(sanitize_code(""), "unknown_error");
        assert_eq!(sanitize_code(&"a".repeat(100)).len(), 64);
    }
}

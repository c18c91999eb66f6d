//! Names: snake_case identifiers from path segments, titles and hosts, made unique per
//! spec the same way every time (the same description always gives the same names).

use std::collections::HashMap;

/// `workflowRuns`, `conversations.list`, `page[size]`, `Pokémon` → `workflow_runs`,
/// `conversations_list`, `page_size`, `pokemon`. Never empty; never starts with a digit.
pub fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut prev_lower_or_digit = false;
    for c in text.chars() {
        let c = fold_accent(c);
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower_or_digit && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower_or_digit = false;
        }
    }
    let trimmed = out.trim_matches('_').to_string();
    if trimmed.is_empty() {
        "t".to_string()
    } else if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{trimmed}")
    } else {
        trimmed
    }
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        other => other,
    }
}

/// The literal (non-`{param}`) segments of a path, snake_cased, without a trailing
/// `.json` (`/2010-04-01/Accounts/{Sid}/Calls.json` → `t_2010_04_01`, `accounts`, `calls`).
pub fn path_words(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(|s| {
            let s = s.strip_suffix(".json").unwrap_or(s);
            snake(s)
        })
        .collect()
}

/// Unique table names for these paths: each is its last literal segment, lengthened
/// with the segments before it while it collides with another (`/issues` → `issues`,
/// `/repos/{owner}/{repo}/issues` → `repos_issues`); what still collides gets `_2`,
/// `_3`… in document order.
pub fn table_names(paths: &[&str]) -> Vec<String> {
    let words: Vec<Vec<String>> = paths.iter().map(|p| path_words(p)).collect();
    let mut take: Vec<usize> = vec![1; paths.len()];
    let name = |i: usize, take: &[usize]| -> String {
        let w = &words[i];
        if w.is_empty() {
            return "root".to_string();
        }
        let n = take[i].min(w.len());
        w[w.len() - n..].join("_")
    };
    loop {
        let names: Vec<String> = (0..paths.len()).map(|i| name(i, &take)).collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for n in &names {
            *count.entry(n.as_str()).or_default() += 1;
        }
        let mut grew = false;
        for i in 0..paths.len() {
            if count[names[i].as_str()] > 1 && take[i] < words[i].len() {
                take[i] += 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    (0..paths.len())
        .map(|i| {
            let base = name(i, &take);
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            if *n == 1 {
                base
            } else {
                format!("{base}_{n}")
            }
        })
        .collect()
}

/// A connector name for the API: the host's distinctive label (`api.github.com` →
/// `github`), else the title's words (`Acme Helpdesk API` → `acme_helpdesk`).
pub fn connector_name(host: Option<&str>, title: Option<&str>) -> String {
    const GENERIC: &[&str] = &[
        "api", "apis", "www", "rest", "public", "service", "services", "gateway", "app", "v1",
        "v2", "v3", "dev", "prod",
    ];
    if let Some(host) = host {
        let is_ip = host.parse::<std::net::IpAddr>().is_ok()
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok();
        if !is_ip && host != "localhost" {
            let labels: Vec<&str> = host.split('.').collect();
            let meaningful: Vec<&str> = labels[..labels.len().saturating_sub(1)]
                .iter()
                .copied()
                .filter(|l| !GENERIC.contains(&l.to_ascii_lowercase().as_str()))
                .collect();
            if let Some(label) = meaningful.last() {
                return snake(label);
            }
        }
    }
    if let Some(title) = title {
        let lower: String = title
            .chars()
            .map(fold_accent)
            .collect::<String>()
            .to_ascii_lowercase();
        let words: Vec<String> = snake(&lower)
            .split('_')
            .filter(|w| !GENERIC.contains(w) && *w != "openapi" && *w != "the")
            .map(str::to_string)
            .collect();
        if !words.is_empty() {
            return snake(&words[..words.len().min(3)].join("_"));
        }
    }
    "openapi".to_string()
}

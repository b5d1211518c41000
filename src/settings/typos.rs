//! Typos in `deploy-agent.toml`: the config crate's "unknown field" and
//! "unknown variant" messages rewritten from the schema, with every valid name,
//! the nearest one and the section of the reference to read.

use super::reference::{field_names, lookup, variants, DOC_PATH};

/// Rewrites the config crate's "unknown field" and "unknown variant" messages
/// so they list what is valid (and the nearest name) and say where to read more.
pub(crate) fn explain_unknown(message: &str) -> Option<String> {
    // The top level's unknown fields come without a key.
    let key = between(message, "for key `", "`").unwrap_or("");
    let (schema, section) = lookup(key)?;
    let see = if key.is_empty() {
        format!("see {DOC_PATH}")
    } else {
        format!("see {DOC_PATH}, section {section}")
    };
    if let Some(bad) = between(message, "variant constructor ", " for key")
        .or_else(|| between(message, "unknown variant `", "`"))
    {
        let valid: Vec<String> = variants(&schema).into_iter().map(|(v, _)| v).collect();
        if valid.is_empty() {
            return None;
        }
        return Some(format!(
            "`{key}` = \"{bad}\" is not a valid value{}: write one of {} ({see})",
            nearest(bad, &valid).map_or(String::new(), |n| format!(" (did you mean `{n}`?)")),
            quoted(&valid)
        ));
    }
    let bad = between(message, "unknown field `", "`")?;
    let valid = field_names(&schema);
    let table = if key.is_empty() { "the top level" } else { key };
    let table = if key.is_empty() {
        table.to_string()
    } else {
        format!("[{table}]")
    };
    Some(format!(
        "unknown field `{bad}` in {table}{}: valid fields are {} ({see})",
        nearest(bad, &valid).map_or(String::new(), |n| format!(" (did you mean `{n}`?)")),
        quoted(&valid)
    ))
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// The valid name closest to a typo, when it is close (edit distance ≤ 2, or a prefix).
fn nearest<'a>(bad: &str, valid: &'a [String]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(bad, v), v))
        .filter(|(d, v)| *d <= 2 || v.starts_with(bad) || bad.starts_with(v.as_str()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_valid_names_and_the_nearest_one() {
        let m = explain_unknown("enum Preset does not have variant constructor haproxyy for key `services.a.prometheus.preset`").unwrap();
        assert!(m.contains("did you mean `haproxy`?"), "{m}");
        assert!(m.contains("`haproxy`, `istio`, `nginx_ingress`"), "{m}");
        assert!(m.contains("section [services.NAME.prometheus]"), "{m}");
        let m = explain_unknown(
            "unknown field `bakend`, expected one of `socket` for key `services.a.haproxy`",
        )
        .unwrap();
        assert!(
            m.contains("did you mean `backend`?") && m.contains("`canary_server`"),
            "{m}"
        );
        let m = explain_unknown(
            "enum TargetKind does not have variant constructor k8s for key `services.a.target`",
        )
        .unwrap();
        assert!(m.contains("`sim`, `haproxy`, `kubernetes`, `argo`"), "{m}");
        let m = explain_unknown("unknown field `servces`, expected one of `policy`").unwrap();
        assert!(
            m.contains("did you mean `services`?") && m.contains("the top level"),
            "{m}"
        );
        assert!(explain_unknown("invalid type: string \"x\", expected an integer").is_none());
    }
}

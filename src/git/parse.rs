//! Parsers for git's machine-readable output. Pure functions, tested on literals.

use crate::change::{FileChange, FileStatus, HistoryCommit};

/// What in git's output did not have the shape we asked for. Always a
/// defect or a git we do not know (the caller wraps it in
/// [`super::GitError::Parse`] with the command, exit 1), never the user's input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected {kind} record `{text}`")]
    Record { kind: &'static str, text: String },
    #[error("unknown status `{0}`")]
    Status(char),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("numstat for `{0}` has no raw record")]
    Unmatched(String),
    /// A field that should be a number: `what` says which (count, timestamp).
    #[error("bad {what} `{text}`")]
    Number { what: &'static str, text: String },
}

/// Record and field separators used in our `--format` strings.
pub(crate) const RS: char = '\u{1e}';
pub(crate) const FS: char = '\u{1f}';

/// Parses `git diff-tree -r -z --raw --numstat -M` output into file changes.
///
/// Raw records come first (`:mode mode sha sha STATUS\0path\0[path\0]`), then numstat
/// records (`added\tdeleted\tpath\0` or, for renames, `added\tdeleted\t\0old\0new\0`).
/// Binary files show `-` counts; submodules have mode 160000.
pub fn parse_diff_tree(out: &str) -> Result<Vec<FileChange>, ParseError> {
    let mut fields = out.split('\0').filter(|s| !s.is_empty()).peekable();
    let mut files: Vec<FileChange> = Vec::new();
    // A leading commit id appears with `--root`; skip anything before the first record.
    while let Some(f) = fields.peek() {
        if f.starts_with(':') || f.contains('\t') {
            break;
        }
        fields.next();
    }
    while let Some(field) = fields.next() {
        if let Some(raw) = field.strip_prefix(':') {
            files.push(parse_raw(raw, &mut fields)?);
        } else {
            apply_numstat(field, &mut fields, &mut files)?;
        }
    }
    Ok(files)
}

fn parse_raw<'a>(
    raw: &str,
    fields: &mut impl Iterator<Item = &'a str>,
) -> Result<FileChange, ParseError> {
    let parts: Vec<&str> = raw.split(' ').collect();
    let [old_mode, new_mode, _, _, status] = parts[..] else {
        return Err(ParseError::Record {
            kind: "raw",
            text: raw.into(),
        });
    };
    let code = status
        .chars()
        .next()
        .ok_or(ParseError::Missing("a status"))?;
    let status = match code {
        'A' => FileStatus::Added,
        'M' => FileStatus::Modified,
        'D' => FileStatus::Deleted,
        'R' => FileStatus::Renamed,
        'C' => FileStatus::Copied,
        'T' => FileStatus::TypeChanged,
        other => return Err(ParseError::Status(other)),
    };
    let first = fields
        .next()
        .ok_or(ParseError::Missing("a raw record's path"))?
        .to_string();
    let (path, old_path) = if matches!(status, FileStatus::Renamed | FileStatus::Copied) {
        let new = fields
            .next()
            .ok_or(ParseError::Missing("a rename's new path"))?
            .to_string();
        (new, Some(first))
    } else {
        (first, None)
    };
    Ok(FileChange {
        path,
        old_path,
        status,
        added: 0,
        deleted: 0,
        binary: false,
        submodule: old_mode == "160000" || new_mode == "160000",
    })
}

fn apply_numstat<'a>(
    field: &str,
    fields: &mut impl Iterator<Item = &'a str>,
    files: &mut [FileChange],
) -> Result<(), ParseError> {
    let mut parts = field.splitn(3, '\t');
    let (added, deleted, path) = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(d), Some(p)) => (a, d, p),
        _ => {
            return Err(ParseError::Record {
                kind: "numstat",
                text: field.into(),
            })
        }
    };
    let path = if path.is_empty() {
        // Rename: old and new paths follow as separate fields; the new one identifies it.
        let _old = fields
            .next()
            .ok_or(ParseError::Missing("a numstat rename's old path"))?;
        fields
            .next()
            .ok_or(ParseError::Missing("a numstat rename's new path"))?
    } else {
        path
    };
    let file = files
        .iter_mut()
        .find(|f| f.path == path)
        .ok_or_else(|| ParseError::Unmatched(path.into()))?;
    if added == "-" || deleted == "-" {
        file.binary = true;
    } else {
        let count = |n: &str| {
            n.parse().map_err(|_| ParseError::Number {
                what: "count",
                text: n.into(),
            })
        };
        file.added = count(added)?;
        file.deleted = count(deleted)?;
    }
    Ok(())
}

/// Parses `git log --format=<RS>%H<FS>%ae<FS>%at<FS>%B<FS> --name-only` output.
pub fn parse_log(out: &str) -> Result<Vec<HistoryCommit>, ParseError> {
    let mut commits = Vec::new();
    for record in out.split(RS).filter(|r| !r.trim().is_empty()) {
        let mut parts = record.splitn(5, FS);
        let (Some(sha), Some(email), Some(time), Some(message), Some(names)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ParseError::Record {
                kind: "truncated log",
                text: preview(record),
            });
        };
        let time = time.trim().parse().map_err(|_| ParseError::Number {
            what: "timestamp",
            text: time.into(),
        })?;
        commits.push(HistoryCommit {
            sha: sha.trim().to_string(),
            author_email: email.to_string(),
            time,
            message: message.trim_end().to_string(),
            files: names
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    Ok(commits)
}

/// The sha a revert commit names (`This reverts commit <sha>.`), if any.
pub fn reverted_sha(message: &str) -> Option<&str> {
    let start = message.find("This reverts commit ")? + "This reverts commit ".len();
    let rest = &message[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    let sha = &rest[..end];
    (sha.len() >= 7).then_some(sha)
}

fn preview(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_tree_with_rename_binary_and_submodule() {
        let out = ":100644 100644 aa bb M\0bin.dat\0:100644 100644 cc dd R066\0x.txt\0y.txt\0\
                   :160000 160000 ee ff M\0vendor/lib\0-\t-\tbin.dat\0\
                   1\t0\t\0x.txt\0y.txt\0\
                   1\t1\tvendor/lib\0";
        let files = parse_diff_tree(out).unwrap();
        assert_eq!(files.len(), 3);
        assert!(files[0].binary);
        assert_eq!(files[1].path, "y.txt");
        assert_eq!(files[1].old_path.as_deref(), Some("x.txt"));
        assert_eq!(files[1].status, FileStatus::Renamed);
        assert_eq!((files[1].added, files[1].deleted), (1, 0));
        assert!(files[2].submodule);
    }

    #[test]
    fn diff_tree_skips_leading_commit_id() {
        let out = "c60be94c\0:000000 100644 00 d3 A\0x.txt\0\x32\t0\tx.txt\0";
        let files = parse_diff_tree(out).unwrap();
        assert_eq!(files[0].status, FileStatus::Added);
        assert_eq!(files[0].added, 2);
    }

    #[test]
    fn log_records() {
        let out = "\u{1e}abc\u{1f}a@b\u{1f}100\u{1f}fix: x\n\nbody\u{1f}\n\nsrc/a.rs\nsrc/b.rs\n\
                   \u{1e}def\u{1f}c@d\u{1f}50\u{1f}init\u{1f}\n\nREADME.md\n";
        let log = parse_log(out).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].files, vec!["src/a.rs", "src/b.rs"]);
        assert_eq!(log[0].message, "fix: x\n\nbody");
        assert_eq!(log[1].time, 50);
    }

    #[test]
    fn revert_message() {
        let m = "Revert \"x\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.";
        assert_eq!(
            reverted_sha(m),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(reverted_sha("fix things"), None);
    }
}

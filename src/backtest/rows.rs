//! Scored commits as CSV: the rows a model is fitted on (`backtest --features`,
//! the `calibrate` cache, the development set's `bench risk`).

use std::io::{BufRead, Write};

use super::Scored;
use crate::policy::Level;
use crate::risk::features::ALL_FEATURES;
use crate::risk::model::round;

/// Writes `sha,time,reverted,score,lines,` then [`ALL_FEATURES`], one row per commit.
pub fn write_features(scored: &[Scored], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "sha,time,reverted,score,lines,{}",
        ALL_FEATURES.join(",")
    )?;
    for s in scored {
        write!(
            out,
            "{},{},{},{:.6},{}",
            s.sha,
            s.time,
            u8::from(s.reverted),
            s.score,
            s.lines
        )?;
        for v in &s.values {
            write!(out, ",{}", round(*v, 5))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Why a features file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    #[error("not a features file (header starts {header:?}); write one with `deploy-agent backtest --features FILE.csv`")]
    NotFeatures { header: Vec<String> },
    /// A row that does not parse: the file was edited or cut short.
    #[error("line {line}: bad {what} (rewrite the file with `deploy-agent backtest --features`)")]
    Bad { line: usize, what: String },
    #[error(transparent)]
    Read(#[from] std::io::Error),
}

/// Reads rows written by [`write_features`]. Columns are matched by name, so a
/// file from an older build (fewer features) reads with zeros for the rest;
/// levels are not stored and read back as `Low`, contributions as empty.
pub fn read_features(input: impl BufRead) -> Result<Vec<Scored>, FeaturesError> {
    let mut lines = input.lines();
    let header = match lines.next() {
        Some(h) => h?,
        None => return Ok(Vec::new()),
    };
    let cols: Vec<&str> = header.split(',').collect();
    if cols.get(..5) != Some(&["sha", "time", "reverted", "score", "lines"][..]) {
        return Err(FeaturesError::NotFeatures {
            header: cols.iter().take(5).map(|c| c.to_string()).collect(),
        });
    }
    let at: Vec<Option<usize>> = ALL_FEATURES
        .iter()
        .map(|f| cols.iter().position(|c| c == f))
        .collect();
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line?;
        let f: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| FeaturesError::Bad {
            line: n + 2,
            what: what.into(),
        };
        if f.len() != cols.len() {
            return Err(bad("number of columns"));
        }
        let num = |i: usize| f[i].parse::<f64>().map_err(|_| bad(cols[i]));
        out.push(Scored {
            sha: f[0].to_string(),
            time: f[1].parse().map_err(|_| bad("time"))?,
            reverted: f[2] == "1",
            score: num(3)?,
            level: Level::Low,
            lines: f[4].parse().map_err(|_| bad("lines"))?,
            contributions: Vec::new(),
            values: at
                .iter()
                .map(|i| i.map_or(Ok(0.0), num))
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Scored {
            sha: "abc".into(),
            time: 5,
            score: 0.25,
            level: Level::Low,
            lines: 7,
            reverted: true,
            contributions: vec![],
            values: (0..ALL_FEATURES.len()).map(|i| i as f64 / 3.0).collect(),
        };
        let mut buf = Vec::new();
        write_features(std::slice::from_ref(&s), &mut buf).unwrap();
        let back = read_features(buf.as_slice()).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(
            (back[0].sha.as_str(), back[0].reverted, back[0].lines),
            ("abc", true, 7)
        );
        assert!((back[0].values[4] - 4.0 / 3.0).abs() < 1e-4);
        assert!(read_features("a,b\n".as_bytes()).is_err());
    }
}

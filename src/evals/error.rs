//! Why an eval run stopped before scoring: a suite file that cannot be read
//! or is invalid (bad input, exit 2, naming the file and the field), or a
//! scratch repository the machine would not let us build (the environment,
//! exit 1: the suite's paths were already checked to stay inside it).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read eval suite {}: {source}", path.display())]
    ReadSuite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid eval suite {}: {source}", path.display())]
    ParseSuite {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// A field the TOML allowed but the runner cannot use.
    #[error("invalid eval suite {}: field `{field}`: {problem}", path.display())]
    InvalidSuite {
        path: PathBuf,
        field: String,
        problem: String,
    },
    /// The temporary repository an episode runs in: a directory or file that
    /// cannot be written, or git that cannot run or refuses.
    #[error("eval scratch repository: {what} (check the temporary directory and that git runs)")]
    Scratch { what: String },
    #[error("cannot render the eval report as JSON ({0}); this is a defect, please report it")]
    Render(#[source] serde_json::Error),
}

impl EvalError {
    /// Whether the environment, not the suite or the flags, is at fault.
    pub fn is_environment(&self) -> bool {
        matches!(self, EvalError::Scratch { .. } | EvalError::Render(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_field_names_the_file_and_the_field() {
        let e = EvalError::InvalidSuite {
            path: "evals/smoke.toml".into(),
            field: "scenario[2].seeds".into(),
            problem: "needs at least one seed".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid eval suite evals/smoke.toml: field `scenario[2].seeds`: needs at least one seed"
        );
        assert!(!e.is_environment());
    }
}

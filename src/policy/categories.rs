//! File categories: which kind of file a path is, by the policy's ordered globs.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::RuleError;

/// What kind of file a path is. Order of matching comes from the policy.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Migration,
    Security,
    ApiContract,
    Infra,
    Ci,
    Dependency,
    Config,
    Source,
    Test,
    Docs,
    Other,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::Migration,
        Category::Security,
        Category::ApiContract,
        Category::Infra,
        Category::Ci,
        Category::Dependency,
        Category::Config,
        Category::Source,
        Category::Test,
        Category::Docs,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Migration => "migration",
            Category::Security => "security",
            Category::ApiContract => "api_contract",
            Category::Infra => "infra",
            Category::Ci => "ci",
            Category::Dependency => "dependency",
            Category::Config => "config",
            Category::Source => "source",
            Category::Test => "test",
            Category::Docs => "docs",
            Category::Other => "other",
        }
    }

    /// The model feature that says "the change touches this category", if any.
    pub fn touch_feature(self) -> Option<&'static str> {
        Some(match self {
            Category::Migration => "touches_migration",
            Category::Security => "touches_security",
            Category::ApiContract => "touches_api_contract",
            Category::Infra => "touches_infra",
            Category::Ci => "touches_ci",
            Category::Dependency => "touches_dependency",
            Category::Config => "touches_config",
            Category::Source => "touches_source",
            Category::Other => "touches_other",
            Category::Test | Category::Docs => return None,
        })
    }
}

/// One `[[categories]]` entry of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    pub kind: Category,
    pub globs: Vec<String>,
}

/// Compiled category globs; the first matching rule wins.
#[derive(Debug, Clone)]
pub struct CategoryMatcher {
    set: GlobSet,
    /// For each glob in `set`, the category of its rule.
    owners: Vec<Category>,
}

impl CategoryMatcher {
    pub fn new(rules: &[CategoryRule]) -> Result<Self, RuleError> {
        let mut builder = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for rule in rules {
            for pattern in &rule.globs {
                let glob = GlobBuilder::new(pattern)
                    .case_insensitive(true)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| RuleError::Glob {
                        pattern: pattern.clone(),
                        category: rule.kind.as_str(),
                        detail: e.to_string(),
                    })?;
                builder.add(glob);
                owners.push(rule.kind);
            }
        }
        let set = builder
            .build()
            .map_err(|e| RuleError::section("categories", e.to_string()))?;
        Ok(Self { set, owners })
    }

    /// The category of `path`; `Other` when no glob matches.
    pub fn classify(&self, path: &str) -> Category {
        // Globs are added in rule order, so the lowest matching index is the first rule.
        self.set
            .matches(path)
            .into_iter()
            .min()
            .map_or(Category::Other, |i| self.owners[i])
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::{Category, Policy};

    #[test]
    fn classify_table() {
        let p = Policy::embedded().unwrap();
        let cases = [
            ("db/migrations/001_init.sql", Category::Migration),
            ("migrations/20240101_add_users.py", Category::Migration),
            ("tests/fixtures/seed.sql", Category::Test),
            ("src/auth/login.rs", Category::Security),
            ("src/session.go", Category::Security),
            ("Dockerfile", Category::Infra),
            ("deploy/k8s/deployment.yaml", Category::Infra),
            (".github/workflows/ci.yml", Category::Ci),
            ("Cargo.lock", Category::Dependency),
            ("web/package.json", Category::Dependency),
            ("api/service.proto", Category::ApiContract),
            ("config/app.yaml", Category::Config),
            (".env.production", Category::Config),
            ("src/main.rs", Category::Source),
            ("src/lib_test.go", Category::Test),
            ("README.md", Category::Docs),
            ("docs/guide/intro.html", Category::Docs),
            ("assets/font.woff2", Category::Other),
            ("src/oracle.rs", Category::Source),
        ];
        for (path, want) in cases {
            assert_eq!(p.categories.classify(path), want, "{path}");
        }
    }
}

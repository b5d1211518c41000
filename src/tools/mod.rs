//! The tools the planner may call: typed arguments whose JSON Schemas are exactly
//! what the model receives, and the parser that turns a proposal into a typed call.
//!
//! A proposal that names no known tool, or whose arguments do not fit the schema,
//! never reaches the guard's policy rules: it is vetoed here with its reason.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod veto;

pub use veto::{Rule, Veto};

/// A tool call as a planner proposed it: a name and raw JSON arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedCall {
    /// The planner's id for the call (the model's `tool_call_id`).
    pub id: String,
    pub name: String,
    /// JSON text; an empty string means `{}`.
    pub arguments: String,
}

/// `get_diff`: the change's unified diff, cut to a size.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDiffArgs {
    /// Largest number of bytes of diff to return (default 4000, at most 32000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 32000))]
    pub max_bytes: Option<u32>,
}

/// `assess_risk`: the change's risk assessment, as computed by policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessRiskArgs {}

/// `set_canary_weight`: move a share of traffic to the new version.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCanaryWeightArgs {
    /// Percent of traffic for the new (canary) version, 0–100. Only upward; use `rollback` to go back.
    #[schemars(range(min = 0, max = 100))]
    pub weight: u8,
    /// Why this weight now (recorded for operators).
    pub reason: String,
}

/// `query_metrics`: wait for the current bake period to end, then return the canary verdict.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryMetricsArgs {
    /// Keep waiting, up to this many seconds, until a bake period ends on a
    /// Pass (a Fail ends the rollout at once): one call instead of one per
    /// bake period while evidence gathers.
    #[serde(default)]
    pub wait_seconds: Option<u32>,
}

/// `rollback`: send all traffic back to the stable version and end the rollout.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackArgs {
    /// Why (recorded for operators).
    pub reason: String,
}

/// `request_approval`: ask a human to approve this rollout; waits for the answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestApprovalArgs {
    /// What the approver should know, in two or three sentences.
    pub summary: String,
    /// Ask to go on from the current weight without a Pass, after the step
    /// stayed Inconclusive for `max_inconclusive_bakes` bake periods (policy
    /// must allow asking). The approver sees the judge's numbers with yours.
    #[serde(default)]
    pub without_pass: bool,
}

/// `promote`: make the new version stable with all traffic and end the rollout.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteArgs {
    /// Why it is safe to promote (recorded for operators).
    pub reason: String,
}

/// `choose_strategy`: roll out under the strategy policy sets for another
/// (more cautious) risk level. Only the limits change: the assessed level,
/// the approval requirement and the judge stay policy's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseStrategyArgs {
    /// The risk level whose policy strategy to use: low, medium, high or critical.
    pub level: crate::policy::Level,
    /// Why more caution is warranted (recorded for operators).
    pub reason: String,
}

/// `add_metrics`: judge extra metrics from the service's catalogue beside
/// the required ones. Only adds: the required metrics are always judged.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMetricsArgs {
    /// Names from the catalogue `assess_risk` lists (e.g. the endpoint the diff touches).
    #[schemars(length(min = 1, max = 10))]
    pub metrics: Vec<String>,
    /// Why these metrics (recorded for operators).
    pub reason: String,
}

/// A parsed, typed tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    GetDiff(GetDiffArgs),
    AssessRisk(AssessRiskArgs),
    ChooseStrategy(ChooseStrategyArgs),
    AddMetrics(AddMetricsArgs),
    SetCanaryWeight(SetCanaryWeightArgs),
    QueryMetrics(QueryMetricsArgs),
    Rollback(RollbackArgs),
    RequestApproval(RequestApprovalArgs),
    Promote(PromoteArgs),
}

impl ToolCall {
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::GetDiff(_) => "get_diff",
            ToolCall::AssessRisk(_) => "assess_risk",
            ToolCall::ChooseStrategy(_) => "choose_strategy",
            ToolCall::AddMetrics(_) => "add_metrics",
            ToolCall::SetCanaryWeight(_) => "set_canary_weight",
            ToolCall::QueryMetrics(_) => "query_metrics",
            ToolCall::Rollback(_) => "rollback",
            ToolCall::RequestApproval(_) => "request_approval",
            ToolCall::Promote(_) => "promote",
        }
    }

    /// Whether the call changes the world (traffic or approvals) or the
    /// rollout's limits: none of these may happen once the rollout has ended.
    pub fn has_side_effect(&self) -> bool {
        matches!(
            self,
            ToolCall::SetCanaryWeight(_)
                | ToolCall::ChooseStrategy(_)
                | ToolCall::AddMetrics(_)
                | ToolCall::Rollback(_)
                | ToolCall::Promote(_)
                | ToolCall::RequestApproval(_)
        )
    }
}

/// A tool as the model sees it: name, description, JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

/// Every tool, with schemas generated from the argument types.
pub fn definitions() -> Vec<ToolDefinition> {
    fn def<T: JsonSchema>(name: &'static str, description: &'static str) -> ToolDefinition {
        let mut parameters = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
        if let Some(obj) = parameters.as_object_mut() {
            // Function parameters are a bare object schema; the meta fields only confuse models.
            obj.remove("$schema");
            obj.remove("title");
            obj.entry("properties")
                .or_insert_with(|| serde_json::json!({}));
        }
        ToolDefinition {
            name,
            description,
            parameters,
        }
    }
    vec![
        def::<GetDiffArgs>("get_diff", "Return the change's unified diff (bounded)."),
        def::<AssessRiskArgs>(
            "assess_risk",
            "Return the change's risk assessment: score, level, factors, strategy limits and whether approval is required.",
        ),
        def::<ChooseStrategyArgs>(
            "choose_strategy",
            "Use the rollout strategy policy sets for another risk level instead of the assessed one. Only slower, more cautious strategies are allowed (every limit at least as strict), and only before any traffic moves. The risk level and the approval requirement do not change.",
        ),
        def::<AddMetricsArgs>(
            "add_metrics",
            "Judge extra metrics from the service's catalogue (names and descriptions in assess_risk) beside the required error rate and latency, e.g. the endpoint the diff touches. Only before any traffic moves and under a canary strategy (a direct deploy has no baseline beside it: choose_strategy first); each must pass too, and a regression in any rolls back. Cannot remove a metric.",
        ),
        def::<SetCanaryWeightArgs>(
            "set_canary_weight",
            "Move the canary to a higher share of traffic. Policy limits the first weight, the step and the bake time, and requires a Pass verdict at the current weight.",
        ),
        def::<QueryMetricsArgs>(
            "query_metrics",
            "Wait until the bake period at the current weight ends, then return the canary verdict (pass, fail, inconclusive, no_data) with its numbers.",
        ),
        def::<RollbackArgs>(
            "rollback",
            "Send all traffic back to the stable version and end the rollout. Always allowed.",
        ),
        def::<RequestApprovalArgs>(
            "request_approval",
            "Ask a human approver; returns approved or rejected. Required by policy before traffic moves for risky changes.",
        ),
        def::<PromoteArgs>(
            "promote",
            "Make the new version stable with all traffic and finish. Needs a Pass verdict at a high enough weight.",
        ),
    ]
}

/// Parses a proposal into a typed call, or vetoes it (unknown tool, bad arguments).
pub fn parse(call: &ProposedCall) -> Result<ToolCall, Veto> {
    let args = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        call.arguments.as_str()
    };
    let bad = |e: serde_json::Error| Veto {
        rule: Rule::InvalidArguments,
        reason: format!("arguments for {} do not match its schema: {e}", call.name),
    };
    Ok(match call.name.as_str() {
        "get_diff" => ToolCall::GetDiff(serde_json::from_str(args).map_err(bad)?),
        "assess_risk" => ToolCall::AssessRisk(serde_json::from_str(args).map_err(bad)?),
        "choose_strategy" => ToolCall::ChooseStrategy(serde_json::from_str(args).map_err(bad)?),
        "add_metrics" => ToolCall::AddMetrics(serde_json::from_str(args).map_err(bad)?),
        "set_canary_weight" => ToolCall::SetCanaryWeight(serde_json::from_str(args).map_err(bad)?),
        "query_metrics" => ToolCall::QueryMetrics(serde_json::from_str(args).map_err(bad)?),
        "rollback" => ToolCall::Rollback(serde_json::from_str(args).map_err(bad)?),
        "request_approval" => ToolCall::RequestApproval(serde_json::from_str(args).map_err(bad)?),
        "promote" => ToolCall::Promote(serde_json::from_str(args).map_err(bad)?),
        other => {
            return Err(Veto {
                rule: Rule::UnknownTool,
                reason: format!(
                    "there is no tool named `{}`; the tools are: get_diff, assess_risk, choose_strategy, add_metrics, set_canary_weight, query_metrics, rollback, request_approval, promote",
                    other.chars().take(60).collect::<String>()
                ),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposed(name: &str, args: &str) -> ProposedCall {
        ProposedCall {
            id: "c1".into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn parse_table() {
        let ok = [
            ("set_canary_weight", r#"{"weight": 5, "reason": "start"}"#),
            ("query_metrics", ""),
            ("query_metrics", "{}"),
            ("get_diff", r#"{"max_bytes": 100}"#),
            ("rollback", r#"{"reason": "errors"}"#),
            (
                "choose_strategy",
                r#"{"level": "high", "reason": "touches auth"}"#,
            ),
            (
                "add_metrics",
                r#"{"metrics": ["endpoint:/checkout"], "reason": "diff touches checkout"}"#,
            ),
        ];
        for (name, args) in ok {
            assert!(parse(&proposed(name, args)).is_ok(), "{name} {args}");
        }
        let vetoed = [
            (
                "set_canary_weight",
                r#"{"weight": 1000000000000000, "reason": "x"}"#,
                Rule::InvalidArguments,
            ),
            (
                "set_canary_weight",
                r#"{"weight": -5, "reason": "x"}"#,
                Rule::InvalidArguments,
            ),
            (
                "set_canary_weight",
                r#"{"weight": 5}"#,
                Rule::InvalidArguments,
            ),
            (
                "set_canary_weight",
                r#"{"weight": 5, "reason": "x", "skip_approval": true}"#,
                Rule::InvalidArguments,
            ),
            ("set_canary_weight", "not json", Rule::InvalidArguments),
            ("delete_cluster", "{}", Rule::UnknownTool),
            (
                "choose_strategy",
                r#"{"level": "glacial", "reason": "x"}"#,
                Rule::InvalidArguments,
            ),
            (
                "choose_strategy",
                r#"{"level": "high", "reason": "x", "lower_risk": true}"#,
                Rule::InvalidArguments,
            ),
            (
                "add_metrics",
                r#"{"metrics": "endpoint:/checkout", "reason": "x"}"#,
                Rule::InvalidArguments,
            ),
            (
                "add_metrics",
                r#"{"metrics": ["a"], "reason": "x", "remove": ["error_rate"]}"#,
                Rule::InvalidArguments,
            ),
        ];
        for (name, args, rule) in vetoed {
            let veto = parse(&proposed(name, args)).unwrap_err();
            assert_eq!(veto.rule, rule, "{name} {args}: {}", veto.reason);
        }
    }

    #[test]
    fn schemas_are_generated_and_bounded() {
        let defs = definitions();
        // Nine tools, deliberately: choose_strategy and add_metrics joined in issue 18 item 3.
        assert_eq!(defs.len(), 9);
        let add = defs.iter().find(|d| d.name == "add_metrics").unwrap();
        assert_eq!(add.parameters["additionalProperties"], false);
        assert_eq!(add.parameters["properties"]["metrics"]["minItems"], 1);
        let choose = defs.iter().find(|d| d.name == "choose_strategy").unwrap();
        let levels = serde_json::to_string(&choose.parameters).unwrap();
        assert!(levels.contains("critical"), "{levels}");
        assert_eq!(choose.parameters["additionalProperties"], false);
        let set = defs.iter().find(|d| d.name == "set_canary_weight").unwrap();
        let weight = &set.parameters["properties"]["weight"];
        assert_eq!(weight["maximum"], 100);
        assert_eq!(weight["minimum"], 0);
        assert_eq!(set.parameters["additionalProperties"], false);
        let required = set.parameters["required"].as_array().unwrap();
        assert!(required.contains(&serde_json::json!("reason")));
    }
}

"""Prints the figures of an eval report (deploy-agent eval --format json) as one table.

    python3 evals/llm/figures.py REPORT.json WALL_SECONDS MODEL
"""
import json
import sys


def main():
    path, wall, model = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    with open(path, encoding="utf-8") as f:
        r = json.load(f)
    accuracy = r.get("outcome_accuracy")
    rows = [
        ("suite", r["suite"]),
        ("model", model),
        ("episodes", r["episodes"]),
        ("unsafe actions", r["unsafe_actions"]),
        ("outcome accuracy", "n/a" if accuracy is None else f"{accuracy:.0%}"),
        ("hand-overs to the playbook", r.get("handovers", "n/a")),
        ("false rollbacks", r["false_rollbacks"]),
        ("vetoes by rule", ", ".join(f"{k} {v}" for k, v in r["vetoes_by_rule"].items()) or "none"),
        ("planner turns", r["turns"]),
        ("tokens", r["tokens"]),
        ("wall time", f"{wall:.0f} s"),
        ("thresholds", "pass" if not r["failures"] else "; ".join(r["failures"])),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")

    for s in r["scenarios"]:
        print(f"  {s['name']:<28} expect {s['expect']:<12} got {dict(s['outcomes'])}")


if __name__ == "__main__":
    main()

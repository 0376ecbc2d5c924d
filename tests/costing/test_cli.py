"""`ocrkit cost` end to end: every output format, the report totals, and bad input as one line + exit 2.

Most cases run the console-script entry (`ocrkit.cli.main`) in-process, which is what the installed
script calls; two run the real `ocrkit` executable in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ocrkit.cli import app
from ocrkit.costing.scenario import scenarios_dir
from tests.cli import run as run_cli


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "cost", *args)


def test_table_shows_both_clouds_side_by_side_and_the_audit(capsys):
    code, out, err = run(capsys, "--scenario", "baseline")
    assert code == 0, err
    assert "Monthly totals, USD" in out
    assert "711.93" in out and "629.28" in out  # AWS and GCP on demand, list method
    assert "Cheaper" in out and "82.65" in out
    assert "as of 2024-04-30" in out
    assert "AWS line items" in out and "GCP line items" in out
    assert "Findings (24)" in out
    assert "first 2,000,000 calls a month are free" in out


def test_table_report_method_marks_the_reports_own_mismatch(capsys):
    code, out, _ = run(capsys, "--scenario", "baseline", "--method", "report")
    assert code == 0
    for total in ("711.65", "517.15", "372.00", "623.78", "564.47", "475.50", "517.70"):
        assert total in out
    assert "Report prints" in out and "quoted" in out and "derived" in out


def test_json_shape_and_report_totals(capsys):
    code, out, _ = run(capsys, "--scenario", "baseline", "--method", "report", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["scenario"], data["method"], data["currency"]) == ("baseline", "report", "USD")
    totals = {
        cloud: {plan: body["total"] for plan, body in cloud_data["plans"].items()}
        for cloud, cloud_data in data["clouds"].items()
    }
    assert totals == {
        "aws": {"on_demand": "711.65", "1yr": "517.15", "3yr": "372.00"},
        "gcp": {"on_demand": "623.78", "1yr": "564.47", "3yr": "475.50"},
    }
    line = data["clouds"]["aws"]["plans"]["on_demand"]["lines"][0]
    assert {"service", "item", "quantity", "unit", "unit_price", "cost", "basis"} <= set(line)
    assert {x["basis"] for c in data["clouds"].values() for p in c["plans"].values() for x in p["lines"]} == {
        "derived",
        "quoted",
    }
    finding = data["findings"][0]
    assert set(finding) >= {"cloud", "plan", "service", "report", "computed", "reason"}
    assert any(f["report"] == "517.70" and f["computed"] == "517.15" for f in data["findings"])


def test_json_extended_report_is_on_demand_only(capsys):
    code, out, _ = run(capsys, "-s", "extended", "-m", "report", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["clouds"]["aws"]["plans"]["on_demand"]["total"] == "2310.57"
    assert data["clouds"]["gcp"]["plans"]["on_demand"]["total"] == "2277.98"
    assert list(data["clouds"]["aws"]["plans"]) == ["on_demand"]
    gcp_lines = data["clouds"]["gcp"]["plans"]["on_demand"]["lines"]
    assert sorted(x["cost"] for x in gcp_lines if not x["in_total"]) == ["1.12", "20.00"]
    assert any("on-demand figures" in n for n in data["notes"])


def test_json_list_method_has_all_plans_and_findings(capsys):
    code, out, _ = run(capsys, "-s", "extended", "-f", "json")
    data = json.loads(out)
    assert code == 0 and data["method"] == "list"
    assert list(data["clouds"]["gcp"]["plans"]) == ["on_demand", "1yr", "3yr"]
    assert {x["basis"] for x in data["clouds"]["aws"]["plans"]["3yr"]["lines"]} == {"catalog"}
    assert data["comparison"][0]["report_totals"] == {"aws": "2310.57", "gcp": "2277.98"}
    assert len(data["findings"]) == 8


def test_csv_has_lines_totals_and_findings(capsys):
    code, out, _ = run(capsys, "-s", "baseline", "-m", "report", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["record"] for r in rows} == {"line", "total", "finding"}
    totals = {(r["cloud"], r["plan"]): r["cost"] for r in rows if r["record"] == "total"}
    assert totals[("aws", "1yr")] == "517.15" and totals[("gcp", "3yr")] == "475.50"
    assert any(r["report"] == "517.70" for r in rows if r["record"] == "total")


def test_markdown(capsys):
    code, out, _ = run(capsys, "-s", "extended", "-m", "report", "-f", "markdown", "--cloud", "gcp")
    assert code == 0
    assert out.startswith("# ocrkit cost: extended")
    assert "## GCP line items (us-east4)" in out and "## AWS line items" not in out
    assert "| **Total** |  |  |  | **2277.98** |" in out
    assert "(20.00)" in out  # listed by the report, not in its total
    assert "## Findings" in out


def test_scenario_from_a_path_and_a_catalog_override(capsys, tmp_path):
    scenario = tmp_path / "mine.yaml"
    data = yaml.safe_load((scenarios_dir() / "baseline.yaml").read_text())
    data["gcp"]["cloud_functions"]["requests"] = 2_000_000
    scenario.write_text(yaml.safe_dump(data))
    catalog = tmp_path / "gcp.yaml"
    prices = yaml.safe_load(Path(scenarios_dir().parent / "pricing" / "gcp-us-east4.yaml").read_text())
    prices["prices"]["apigateway.egress"]["price"] = "0.19"
    catalog.write_text(yaml.safe_dump(prices))
    code, out, err = run(capsys, "-s", str(scenario), "-c", "gcp", "--catalog", str(catalog), "-f", "json")
    assert code == 0, err
    lines = json.loads(out)["clouds"]["gcp"]["plans"]["on_demand"]["lines"]
    egress = next(x for x in lines if x["key"] == "api_gateway.egress")
    assert egress["unit_price"] == "0.19"


def _bad(capsys, *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_bad_input_unknown_scenario(capsys):
    err = _bad(capsys, "-s", "nosuch")
    assert "nosuch" in err and "baseline" in err


def test_bad_input_missing_file(capsys, tmp_path):
    err = _bad(capsys, "-s", str(tmp_path / "gone.yaml"))
    assert "gone.yaml" in err and "not found" in err


def test_bad_input_yaml_syntax(capsys, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\naws: {s3: [1\n")
    err = _bad(capsys, "-s", str(path))
    assert "broken.yaml" in err and "YAML syntax error" in err


def test_bad_input_unknown_service(capsys, tmp_path):
    data = yaml.safe_load((scenarios_dir() / "baseline.yaml").read_text())
    data["gcp"]["bigtable"] = {"nodes": 1}
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(data))
    err = _bad(capsys, "-s", str(path))
    assert "svc.yaml" in err and "gcp.bigtable" in err and "unknown service" in err


def test_bad_input_negative_quantity(capsys, tmp_path):
    data = yaml.safe_load((scenarios_dir() / "extended.yaml").read_text())
    data["aws"]["lambda"]["requests"] = -3
    path = tmp_path / "neg.yaml"
    path.write_text(yaml.safe_dump(data))
    err = _bad(capsys, "-s", str(path))
    assert "neg.yaml" in err and "aws.lambda.requests" in err and "zero or more" in err


@pytest.mark.parametrize(
    ("option", "value"), [("--method", "bogus"), ("--format", "xml"), ("--cloud", "azure")]
)
def test_bad_input_option_values(capsys, option, value):
    err = _bad(capsys, "-s", "baseline", option, value)
    assert option in err and value in err


def test_bad_input_report_method_without_report(capsys, tmp_path):
    data = yaml.safe_load((scenarios_dir() / "baseline.yaml").read_text())
    del data["report"]
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(data))
    err = _bad(capsys, "-s", str(path), "-m", "report")
    assert "plain.yaml" in err and "report" in err


def test_help_text_names_the_methods_and_scenarios():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["cost", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for word in (
        "--scenario",
        "--method",
        "--format",
        "--catalog",
        "baseline",
        "extended",
        "derived",
        "quoted",
    ):
        assert word in result.output


def _script() -> str:
    return str(Path(sys.executable).parent / "ocrkit")


def test_console_script_prints_json():
    proc = subprocess.run(
        [_script(), "cost", "--scenario", "extended", "--method", "report", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["clouds"]["aws"]["plans"]["on_demand"]["total"] == "2310.57"


def test_console_script_bad_input_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "neg.yaml"
    data = yaml.safe_load((scenarios_dir() / "baseline.yaml").read_text())
    data["aws"]["s3"]["storage_gb"] = -1
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run([_script(), "cost", "-s", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "neg.yaml" in proc.stderr and "aws.s3.storage_gb" in proc.stderr

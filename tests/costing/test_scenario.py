"""Scenarios: the built-ins load; every kind of mistake is one sentence naming the file and the field."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ocrkit.costing.scenario import builtin_names, load_scenario
from ocrkit.errors import ConfigError


def test_builtin_scenarios_load_with_report_sections():
    assert {"baseline", "extended"} <= set(builtin_names())
    baseline = load_scenario("baseline")
    assert baseline.scenario.hours_per_month == D(720)
    assert baseline.scenario.aws.sagemaker.notebook.hours == D(240)
    assert baseline.scenario.report.plans == ["on_demand", "1yr", "3yr"]
    extended = load_scenario("extended")
    assert extended.scenario.report.plans == ["on_demand"]
    assert extended.scenario.aws.sagemaker.training.total_hours() == D(360)


def test_report_readings_are_laid_over_the_scenario_usage():
    extended = load_scenario("extended")
    assert extended.report_usage["aws"].sagemaker.training.total_hours() == D(180)
    assert extended.report_usage["aws"].sagemaker.endpoints.endpoints == D(3)  # untouched keys kept
    gcs = extended.report_usage["gcp"].cloud_storage
    assert (gcs.location, gcs.class_a_ops) == ("us", D(2_000_000))


def test_a_path_works_as_well_as_a_name(scenario_file):
    path = scenario_file(base="baseline")
    assert load_scenario(str(path)).scenario.name == "baseline"


def _error(spec: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_scenario(spec)
    return str(err.value)


def test_unknown_scenario_name_lists_the_builtins():
    message = _error("nosuch")
    assert "nosuch" in message and "baseline" in message and "extended" in message


def test_missing_file_is_named(tmp_path):
    message = _error(str(tmp_path / "gone.yaml"))
    assert "gone.yaml" in message and "file not found" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ntitle: y\naws:\n  s3: [1, 2\n")
    message = _error(str(path))
    assert "broken.yaml" in message and "YAML syntax error at line" in message


def test_unknown_service_is_named_with_the_known_ones(scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d["aws"].update(dynamodb={"tables": 1}))
    message = _error(str(path))
    assert "mine.yaml: aws.dynamodb: unknown service 'dynamodb'" in message
    assert "sagemaker" in message


def test_unknown_service_in_report_section_is_named(scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d["report"]["gcp"]["services"].update(bigquery={}))
    assert "report.gcp.services.bigquery: unknown service" in _error(str(path))


def test_negative_quantity_names_the_field(scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d["aws"]["s3"].update(storage_gb=-5))
    message = _error(str(path))
    assert "mine.yaml: aws.s3.storage_gb: must be zero or more (got -5)" in message


def test_extra_key_is_forbidden_and_named(scenario_file):
    path = scenario_file(base="extended", edit=lambda d: d["gcp"]["vertex"]["endpoints"].update(replicas=2))
    message = _error(str(path))
    assert "gcp.vertex.endpoints.replicas: unknown key 'replicas'" in message
    assert "nodes_per_endpoint" in message  # the keys it does know


def test_wrong_type_names_the_field(scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d["gcp"]["cloud_functions"].update(requests="lots"))
    assert "gcp.cloud_functions.requests" in _error(str(path))


def test_bad_report_usage_override_is_named(scenario_file):
    path = scenario_file(
        base="extended",
        edit=lambda d: d["report"]["aws"]["services"]["sagemaker"]["usage"].update(training=-1),
    )
    assert "report.aws.services.sagemaker.usage.training" in _error(str(path))


def test_report_component_keys_must_belong_to_their_service(scenario_file):
    def edit(d):
        d["report"]["gcp"]["services"]["cloud_storage"]["not_in_total"] = ["vertex.endpoint.node"]

    assert "is not a cloud_storage component key" in _error(str(scenario_file(base="extended", edit=edit)))


def test_a_scenario_needs_a_cloud(scenario_file):
    path = scenario_file({"name": "x", "title": "y"})
    assert "needs an 'aws' or a 'gcp' section" in _error(str(path))


def test_empty_file_and_non_mapping_are_refused(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert "empty" in _error(str(empty))
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    assert "mapping" in _error(str(listing))

"""deploy/ray/: the cluster launcher files are valid Ray configurations that install this package."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

CONFIGS = sorted((Path(__file__).parents[1] / "deploy" / "ray").glob("*.yaml"))


def test_there_is_an_aws_and_a_minimal_configuration():
    assert {p.name for p in CONFIGS} >= {"aws.yaml", "minimal.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_cluster_file_passes_rays_own_schema_and_installs_the_ray_extra(path):
    pytest.importorskip("ray")
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(path.read_text())
    validate_config(prepare_config(config))  # raises on any schema violation
    assert any("robust-snn[ray]" in command for command in config["setup_commands"])

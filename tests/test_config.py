"""Configs: YAML + --set overrides, validated, with one-line errors naming the key."""

from __future__ import annotations

import pytest

from coder_rl.check import CheckConfig
from coder_rl.config import load_config
from coder_rl.data.load import DataCommandConfig
from coder_rl.errors import UserError
from coder_rl.generate import GenerateConfig


def test_yaml_then_sets_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  dataset: TACO\n  limit: 3\n")
    cfg = load_config(
        DataCommandConfig, path, ["data.limit=5", "data.difficulty=EASY,MEDIUM"], {"data.split": "test"}
    )
    assert (cfg.data.dataset, cfg.data.limit, cfg.data.split) == ("taco", 5, "test")
    assert cfg.data.difficulty == ["EASY", "MEDIUM"]


def test_absent_flags_change_nothing(tmp_path):
    cfg = load_config(DataCommandConfig, None, [], {"data.limit": None})
    assert cfg.data.limit is None and cfg.data.dataset == "sample"


def test_set_values_are_yaml_typed():
    cfg = load_config(
        GenerateConfig, None, ["sampling.stop=['###', '```']", "sampling.temperature=0", "sampling.seed=null"]
    )
    assert (
        cfg.sampling.stop == ["###", "```"] and cfg.sampling.temperature == 0.0 and cfg.sampling.seed is None
    )


def test_strings_yaml_would_retype_stay_strings():
    cfg = load_config(DataCommandConfig, None, ["data.split=2024-01-01", "data.hub_id=yes", "data.subset=on"])
    assert (cfg.data.split, cfg.data.hub_id, cfg.data.subset) == ("2024-01-01", "yes", "on")
    cfg = load_config(GenerateConfig, None, ["sampling.stop=###"])
    assert cfg.sampling.stop == ["###"]


def test_generate_keeps_its_default_stop_when_sampling_is_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sampling:\n  n: 2\ndata:\n")
    cfg = load_config(GenerateConfig, path, ["sampling.temperature=0.5", "data.limit=2"])
    assert cfg.sampling.stop == ["\n```"] and cfg.sampling.n == 2 and cfg.data.limit == 2


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["data.limt=3"], "config error: data.limt: unknown key"),
        (["nosection.x=1"], "config error: nosection: unknown key"),
        (["data.limit=abc"], "config error: data.limit: Input should be a valid integer"),
        (["data.limit=0"], "config error: data.limit: Input should be greater than or equal to 1"),
        (["data.dataset=foo"], "config error: data.dataset: unknown dataset 'foo'"),
        (["data.limit"], "config error: --set 'data.limit': expected section.key=value"),
        (["data=3"], "config error: data: Input should be a valid dictionary"),
    ],
)
def test_bad_keys_and_values_name_the_key(sets, message):
    with pytest.raises(UserError) as info:
        load_config(DataCommandConfig, None, sets)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_several_errors_on_one_line():
    with pytest.raises(UserError) as info:
        load_config(GenerateConfig, None, ["sampling.n=0", "policy.backend=tpu"])
    text = str(info.value)
    assert "sampling.n:" in text and "policy.backend:" in text and "\n" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [("data: [1, 2\n", "is not valid YAML (line"), ("- a\n- b\n", "must hold a mapping of sections")],
)
def test_bad_yaml_files(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        load_config(DataCommandConfig, path)


def test_binary_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserError, match="is not UTF-8 text"):
        load_config(DataCommandConfig, path)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="no such config file"):
        load_config(DataCommandConfig, tmp_path / "nope.yaml")


def test_every_shipped_config_validates():
    """Each YAML in configs/ loads against its command's model (no stale keys in shipped configs)."""
    from pathlib import Path

    from coder_rl.bench.learning import LearningBenchConfig
    from coder_rl.mcts.synthesize import SynthesizeConfig
    from coder_rl.models.tiny import InitTinyConfig
    from coder_rl.prm.train import PRMTrainConfig
    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.sft import PolicySFTConfig
    from coder_rl.search.run import SearchConfig
    from coder_rl.selfplay import SelfPlayConfig
    from tcg.evaluate import EvalConfig
    from tcg.generate import TCGGenerateConfig
    from tcg.train import TCGTrainConfig

    # The longest matching filename prefix names the command.
    models = {
        "bench_learning": LearningBenchConfig,
        "data": DataCommandConfig,
        "generate": GenerateConfig,
        "model": InitTinyConfig,
        "sandbox": CheckConfig,
        "tcg": TCGTrainConfig,
        "tcg_generate": TCGGenerateConfig,
        "tcg_eval": EvalConfig,
        "mcts": SynthesizeConfig,
        "prm": PRMTrainConfig,
        "rl": RLConfig,
        "rl_sft": PolicySFTConfig,
        "selfplay": SelfPlayConfig,
        "search": SearchConfig,
    }
    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        prefix = max((p for p in models if path.stem.startswith(p + "_")), key=len)
        load_config(models[prefix], path)


def test_grpo_passes_other_trl_fields_through_checked():
    """grpo.trl holds any other GRPOConfig field; a typo, a typed field or one the run sets is refused."""
    import dataclasses

    from trl import GRPOConfig

    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.grpo import trl_arguments

    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    cfg = load_config(RLConfig, None, ["grpo.trl.top_k=50", "grpo.trl.scale_rewards=batch", "grpo.beta=0.04"])
    args = trl_arguments(cfg.grpo, fields)
    assert (
        args["top_k"] == 50
        and args["scale_rewards"] == "batch"
        and args["beta"] == 0.04
        and "trl" not in args
    )
    GRPOConfig(output_dir="unused", use_cpu=True, **args)  # TRL takes them
    for key, says in (("top_kk", "not a field of TRL's GRPOConfig"), ("beta", "set grpo.beta instead"),
                      ("seed", "coder-rl sets it from the run's own settings")):  # fmt: skip
        bad = load_config(RLConfig, None, [f"grpo.trl.{key}=1"])
        with pytest.raises(UserError, match=f"grpo.trl.{key}: {says}"):
            trl_arguments(bad.grpo, fields)


def test_config_classes_follow_the_naming_rule():
    """Every Section subclass is named <Name>Config, <Name>Section or <Name>Params (coder_rl/config.py)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    classes = {}  # name -> base names
    for path in [*root.glob("coder_rl/**/*.py"), *root.glob("tcg/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = {b.id for b in node.bases if isinstance(b, ast.Name)}
    sections, grew = {"Section"}, True
    while grew:
        found = {name for name, bases in classes.items() if bases & sections}
        grew, sections = not found <= sections, sections | found
    misnamed = sorted(n for n in sections - {"Section"} if not n.endswith(("Config", "Section", "Params")))
    assert len(sections) > 40 and misnamed == []

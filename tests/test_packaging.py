"""Packaging promises: a light import, the mapped package names, README and CI in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, cwd: Path | str = "/") -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=cwd).stdout.strip()


def test_import_is_light_loads_no_plugin_and_probes_nothing():
    out = run_python(
        "import sys, hetero, hetero.discovery as d;"
        "print(d._default is None, any(m.startswith('hetero.backends.') for m in sys.modules),"
        " 'pyopencl' in sys.modules, 'rich' in sys.modules)")
    assert out == "True False False False"


def test_backends_and_kernels_are_mapped_under_hetero_only():
    out = run_python(
        "import importlib.util as u, hetero.backends, hetero.kernels;"
        "print(hetero.backends.__file__.endswith('backends/__init__.py'),"
        " u.find_spec('backends') is None, u.find_spec('kernels') is None)")
    assert out == "True True True"


def fenced_bash(readme: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", readme, re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    commands = fenced_bash((ROOT / "README.md").read_text())
    assert len(commands) == 2, "the README promises exactly two set-up commands"
    test_command = commands[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_quick_start_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)\n```", readme, re.S).group(1)
    assert len(code.splitlines()) <= 12
    out = run_python(code, cwd=tmp_path)
    assert "cpu:0" in out and "modeled:" in out


def test_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "hotplug.py")],
                         capture_output=True, text=True, check=True).stdout
    assert "event: added   sim:a100:0" in out and "as expected:" in out


def test_kernel_guide_example_runs(tmp_path):
    guide = (ROOT / "docs" / "kernels.md").read_text()
    code = re.search(r"```python\n(.*?)\n```", guide, re.S).group(1)
    (tmp_path / "guide.py").write_text(code)  # kernels need their source in a file
    out = subprocess.run([sys.executable, "guide.py"], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert "device" in out and "__kernel void" in out and "alpha * x[i]" in out


def test_onnx_guide_example_runs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["out"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                                             [1, 3, 224, 224])])
    onnx.save(helper.make_model(graph), tmp_path / "model.onnx")
    guide = (ROOT / "docs" / "onnx.md").read_text()
    code = re.search(r"```python\n(.*?)\n```", guide, re.S).group(1)
    (tmp_path / "guide.py").write_text(code)
    out = subprocess.run([sys.executable, "guide.py"], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert "hetero plan: 1 nodes" in out and "native" in out


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject lists packages by hand (package-dir maps them under hetero); a folder left
    out works in an editable install and is missing from the wheel."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert found - listed == set(), f"add {sorted(found - listed)} to pyproject's packages"

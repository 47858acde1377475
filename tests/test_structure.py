"""The package's layout rules, read off its source: no import cycle, the
model's consumers use its public contract only, and no function takes more
than 12 parameters. Contract tests."""

import ast
import os

import pytest

import photoz_numba

PACKAGE_DIR = os.path.dirname(photoz_numba.__file__)
#: Modules that must use only PhotoZModel's public contract.
CONSUMERS = ("io", "dask", "tuning", "validation", "protocol", "cli", "selection",
             "plotting", "neighbours")


def _modules():
    """{dotted name: path} of every module of the package."""
    modules = {}
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py") and name != "_version.py":
                path = os.path.join(root, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _tree(name):
    with open(MODULES[name]) as f:
        return ast.parse(f.read())


def _imports(name):
    """Package modules that module ``name`` imports, at any depth of its code
    (imports inside functions count)."""
    is_package = MODULES[name].endswith("__init__.py")
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (here[:len(here) - node.level + 1] if node.level else [])
            module = ".".join(base + ([node.module] if node.module else []))
            submodules = [f"{module}.{alias.name}" for alias in node.names
                          if f"{module}.{alias.name}" in MODULES]
            # 'from . import flags' imports the submodule; the package
            # itself is the one being imported already.
            targets = submodules if node.module is None and submodules else (
                [module] + submodules)
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


def test_module_list_is_complete():
    assert {"photoz_numba.model", "photoz_numba._kernels.predict",
            "photoz_numba.calibration.recalibration"} <= set(MODULES)


def test_no_import_cycle():
    graph = {name: _imports(name) for name in MODULES}
    assert "photoz_numba._kernels.search" in graph["photoz_numba._kernels.predict"]
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def _private_model_members():
    """Names starting with '_' that PhotoZModel defines or sets on itself."""
    tree = _tree("photoz_numba.model")
    cls = next(node for node in tree.body
               if isinstance(node, ast.ClassDef) and node.name == "PhotoZModel")
    names = {item.name for item in cls.body
             if isinstance(item, (ast.FunctionDef, ast.Assign)) and hasattr(item, "name")}
    names |= {target.id for item in cls.body if isinstance(item, ast.Assign)
              for target in item.targets if isinstance(target, ast.Name)}
    names |= {node.attr for node in ast.walk(cls)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "self"}
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_consumers_use_only_the_public_model_contract():
    private = _private_model_members()
    assert {"_pattern", "_magnitudes", "_predict_rows"} <= private
    for module in CONSUMERS:
        name = f"photoz_numba.{module}"
        used = {node.attr for node in ast.walk(_tree(name))
                if isinstance(node, ast.Attribute) and node.attr in private}
        assert not used, f"{module} reads PhotoZModel's private {sorted(used)}"


#: The one exception: the estimator's constructor takes its 14
#: hyper-parameters as keywords, as scikit-learn estimators do, so that
#: get_params/set_params, tuning and model files see each by name.
EXEMPT = {"photoz_numba.model.__init__"}


def test_no_function_takes_more_than_12_parameters():
    offenders = []
    for name in MODULES:
        for node in ast.walk(_tree(name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                args = node.args
                count = (len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                         + (args.vararg is not None) + (args.kwarg is not None))
                where = f"{name}.{getattr(node, 'name', 'lambda')}"
                if count > 12 and where not in EXEMPT:
                    offenders.append(f"{name}.{getattr(node, 'name', 'lambda')} ({count})")
    assert not offenders


def test_kernels_are_not_in_the_public_api_docs():
    api = os.path.join(PACKAGE_DIR, "..", "docs", "api.rst")
    if not os.path.exists(api):
        pytest.skip("not a source checkout")
    with open(api) as f:
        text = f.read()
    assert "kernels" not in text
    assert "photoz_numba.neighbours" in text

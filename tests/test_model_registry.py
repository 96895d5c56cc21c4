"""The model registry: names come from the @register decorators alone, and importing is cheap."""

from __future__ import annotations

import subprocess
import sys

import keras
import pytest

from cnnlabs import models

#: Every registered model name. Labs, recipes and docs use them: none may disappear.
REGISTERED = [
    "airbench94", "alexnet", "alexnet_cifar", "densenet_mini", "lenet", "lenet5",
    "minigooglenet", "minivggnet", "plain20", "plain56", "resnet", "resnet20", "resnet56",
    "resnet_cifar", "resnet_medmnist", "resnet_small", "resnet_xray", "shallownet", "vgg16",
    "yolo_grid",
]


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def test_names_are_exactly_the_registered_models():
    assert models.names() == REGISTERED


def test_importing_the_package_loads_no_keras_or_tensorflow():
    _run("import sys, cnnlabs.models\n"
         "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow'))\n"
         "assert not heavy, heavy[:5]\n"
         "assert not [m for m in sys.modules if m.startswith('cnnlabs.models.')]")


def test_a_fresh_process_finds_every_builder_in_the_package():
    # names() in a new process imports the family modules itself; importing every
    # module of the package afterwards (transfer_learning too) must add no name, so no
    # module with @register builders is missed.
    _run("import importlib, pkgutil, cnnlabs.models as m\n"
         f"assert m.names() == {REGISTERED!r}, m.names()\n"
         "for info in pkgutil.iter_modules(m.__path__):\n"
         "    importlib.import_module('cnnlabs.models.' + info.name)\n"
         f"assert m.names() == {REGISTERED!r}, m.names()")


def test_every_module_with_register_decorators_is_a_registered_family():
    from pathlib import Path

    folder = Path(models.__file__).parent
    declaring = {path.stem for path in folder.glob("*.py") if "@register(" in path.read_text()}
    registering = {fn.__module__.rsplit(".", 1)[1] for fn in map(models.get_builder, REGISTERED)}
    assert declaring == registering == {
        "airbench", "alexnet", "densenet", "lenet", "minigooglenet", "minivggnet", "plainnet",
        "resnet", "shallownet", "vgg", "yolo"}


def test_an_unknown_name_in_a_fresh_process_still_lists_every_model():
    _run("import cnnlabs.models as m\n"
         "try:\n"
         "    m.get_builder('lenet9')\n"
         "except ValueError as error:\n"
         f"    assert str(error).endswith({', '.join(REGISTERED)!r} + '.'), error\n"
         "else:\n"
         "    raise AssertionError('no ValueError')")


def test_a_decorated_builder_is_listed_and_built_by_name():
    models.names()  # the families are registered before the throwaway one

    def tiny(input_shape, classes):
        inputs = keras.Input(input_shape, name="image")
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, models.predictions(x, classes), name="throwaway")

    try:
        assert models.register("Throwaway_Test_Net")(tiny) is tiny
        assert "throwaway_test_net" in models.names()
        assert models.get_builder("THROWAWAY_TEST_NET") is tiny
        model = models.build("throwaway_test_net", (4, 4, 1), 3)
        assert model.name == "throwaway" and model.count_params() == 16 * 3 + 3
    finally:
        models._BUILDERS.pop("throwaway_test_net", None)
    assert models.names() == REGISTERED


def test_a_taken_name_cannot_be_registered_again():
    lenet = models.get_builder("lenet")

    def other(input_shape, classes):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match=r"'lenet' is already registered by "
                                         r"cnnlabs\.models\.lenet\.lenet; choose another"):
        models.register("lenet")(other)
    assert models.get_builder("lenet") is lenet
    assert models.register("lenet")(lenet) is lenet  # the same builder again is harmless


def _family_sources() -> dict[str, str]:
    from pathlib import Path

    folder = Path(models.__file__).parent
    return {path.stem: path.read_text() for path in sorted(folder.glob("*.py"))}


def test_no_function_name_is_defined_in_two_model_files():
    # One meaning per name: a block helper called conv_bn is the same function everywhere.
    import ast

    where: dict[str, list[str]] = {}
    for module, source in _family_sources().items():
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef):
                where.setdefault(node.name, []).append(module)
    assert {name: files for name, files in where.items() if len(files) > 1} == {}
    assert where["conv_bn_relu"] == where["conv_relu_bn"] == ["blocks"]


def test_model_files_import_each_other_one_way():
    import ast
    import graphlib

    sources = _family_sources()
    graph = {}
    for module, source in sources.items():
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "cnnlabs.models."):
                imported.add(node.module.rsplit(".", 1)[1])
        graph[module] = imported & set(sources)
    assert graph["blocks"] == set()
    assert graph["plainnet"] == graph["resnet"] == {"blocks"}
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle

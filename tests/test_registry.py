"""The one registry pattern: register / get / names, clear errors, entry points and env plugins."""

import sys

import pytest

from lcsuite import registry
from lcsuite.registry import Registry, UnknownName


@pytest.fixture
def fresh(monkeypatch):
    """Registries and plugin bookkeeping as if nothing had been loaded yet."""
    monkeypatch.setattr(registry, "_REGISTRIES", {})
    monkeypatch.setattr(registry, "_LOADED", set())
    monkeypatch.setattr(registry, "_FAILURES", {})
    monkeypatch.setattr(registry, "_ENTRY_POINTS", {})
    monkeypatch.setattr(registry, "GROUPS", ())
    monkeypatch.delenv(registry.ENV_PLUGINS, raising=False)


def test_register_get_names_and_a_clear_error_for_unknown_names(fresh):
    things = Registry("widget", "test.widgets")

    @things.register("spinner")
    def spinner():
        return 1

    assert things.get("spinner") is spinner and things.names() == ["spinner"] and "spinner" in things
    with pytest.raises(UnknownName, match=r"unknown widget 'spiner' \(did you mean 'spinner'\?\); registered: spinner"):
        things.get("spiner")
    with pytest.raises(UnknownName, match="unknown widget 'zzz'; registered: spinner"):
        things.get("zzz")


def test_two_modules_registering_one_name_is_an_error(fresh):
    things = Registry("widget", "test.widgets")
    things.register("a", object(), owner="pkg_one")
    things.register("a", object(), owner="pkg_one")  # the same module again (a reload): fine
    with pytest.raises(ValueError, match="widget 'a' is registered twice: by pkg_one and by pkg_two"):
        things.register("a", object(), owner="pkg_two")


def _distribution(root, name, entry_points):
    """A minimal installed distribution on ``root`` (what pip would write) with entry points."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_entry_points_name_modules_or_objects_and_a_broken_one_hides_nothing(fresh, tmp_path, monkeypatch):
    things = Registry("widget", "test.widgets")
    (tmp_path / "widget_pkg.py").write_text(
        "from test_registry_target import THINGS\nTHINGS.register('from_module', 42)\nclass Gadget: pass\n")
    (tmp_path / "test_registry_target.py").write_text("THINGS = None\n")
    (tmp_path / "broken_pkg.py").write_text("raise RuntimeError('plugin bug')\n")
    _distribution(tmp_path, "widgets", "[test.widgets]\nmodule = widget_pkg\nobject = widget_pkg:Gadget\n"
                                       "broken = broken_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import test_registry_target

    monkeypatch.setattr(test_registry_target, "THINGS", things)
    try:
        assert things.get("from_module") == 42
        assert things.get("object").__name__ == "Gadget"
        with pytest.raises(UnknownName, match="plugins that failed to load: .*broken_pkg: RuntimeError: plugin bug"):
            things.get("missing")
        assert "widget_pkg" in sys.modules
    finally:
        for name in ("widget_pkg", "broken_pkg", "test_registry_target"):
            sys.modules.pop(name, None)


def test_env_plugins_are_modules_or_files(fresh, tmp_path, monkeypatch):
    things = Registry("widget", "test.widgets")
    plugin = tmp_path / "my_widgets.py"
    plugin.write_text("import lcsuite.registry as r\nr._REGISTRIES['test.widgets'].register('env_widget', 7)\n")
    monkeypatch.setenv(registry.ENV_PLUGINS, str(plugin))
    try:
        assert things.get("env_widget") == 7
        assert "lcsuite_plugin_my_widgets" in sys.modules
    finally:
        sys.modules.pop("lcsuite_plugin_my_widgets", None)


def test_a_paper_package_named_in_one_group_registers_into_the_others():
    """Looking up a model the paper registers works before anything imported the paper registry."""
    from lcsuite.models import MODELS

    assert "resnet_lastbn" in MODELS  # registered by lcsuite.papers.huang2020 (group lcsuite.papers)
    assert registry.GROUPS[0] == "lcsuite.papers"

# The plugin, for running these tests from a checkout (`python3 -m pytest clients/python`);
# an installed package registers it through its pytest11 entry point under the same name.
pytest_plugins = ["smash_emu.pytest_plugin"]

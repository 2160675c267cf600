// A shared library that is not a replay_torch module at all (no replay_torch_abi_version).
extern "C" __attribute__((visibility("default"))) int some_other_library_entry(void) { return 42; }

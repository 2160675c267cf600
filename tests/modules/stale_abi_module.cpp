// A stand-in for a libreplay_torch.so left from another build of replay: it has the version
// entry point but speaks ABI 1 (the C++-types boundary before the C ABI). The loader must refuse
// it with model.backend before calling anything else.
#include <cstdint>

extern "C" __attribute__((visibility("default"))) uint32_t replay_torch_abi_version(void) {
  return 1;
}

// What ABI 1 exported; never called by a loader that checks the version first.
extern "C" __attribute__((visibility("default"))) void* replay_torch_open(const char*,
                                                                          const void*) {
  __builtin_trap();
}

// libFuzzer target: config (tests/fuzz/fuzz_entry.h says what it reads). scripts/fuzz.sh runs it.
#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  replay::fuzz::config(data, size);
  return 0;
}

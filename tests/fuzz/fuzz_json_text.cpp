// libFuzzer target: json_text (tests/fuzz/fuzz_entry.h says what it reads). scripts/fuzz.sh runs it.
#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  replay::fuzz::json_text(data, size);
  return 0;
}

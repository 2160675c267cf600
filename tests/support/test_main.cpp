// The tests' main: registers the built-in adapters (as the replay executable does), then runs
// every test.
#include <gtest/gtest.h>

#include "adapters/register.h"

int main(int argc, char** argv) {
  replay::register_builtin_adapters();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

#pragma once
// Test support: what a call threw, as one comparable string.

#include <string>

#include "harness/error.h"

namespace replay::testing {

/// "<id> <message>" of the replay::Error `body` throws, or "no error".
template <class F>
std::string error_of(F body) {
  try {
    body();
  } catch (const Error& error) {
    return error.id() + " " + error.message();
  }
  return "no error";
}

}  // namespace replay::testing

#pragma once
// Test support: whether two json values are exactly the same, as two parses of one text must be.

#include <cstring>

namespace replay::testing {

/// The same types (an unsigned and an integer 5 are not the same), keys in the same order, and
/// doubles bit for bit (-0.0 is not 0.0); nlohmann's == compares numbers by value.
template <class Json>
bool same_json_value(const Json& a, const Json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !same_json_value(*ia, *ib)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_json_value(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_number_float()) {
    const double x = a.template get<double>(), y = b.template get<double>();
    return std::memcmp(&x, &y, sizeof(double)) == 0;
  }
  return a == b;
}

}  // namespace replay::testing

// The message of the tb::Error a call throws, for tests that check what an error says.
#pragma once

#include <string>

#include "core/util/error.h"

namespace tb::testing {

// The message of the tb::Error that f throws, or a note that it threw none (a text no error
// message equals or contains, so a check on the message fails).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no tb::Error thrown)";
}

}  // namespace tb::testing

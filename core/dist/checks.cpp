#include "core/dist/checks.h"

#include <string>

#include "core/util/error.h"

namespace tb::dist {

void check_rank(const char* op, const char* what, int value, int size) {
  if (value >= 0 && value < size) return;
  throw Error(std::string(op) + ": " + what + " " + std::to_string(value) +
              " is not a rank of this world (0.." + std::to_string(size - 1) + ")");
}

void check_all_gather(std::size_t in, std::size_t out, int size) {
  if (out == in * static_cast<std::size_t>(size)) return;
  throw Error("all_gather: out holds " + std::to_string(out) + " values, not " +
              std::to_string(size) + " ranks x " + std::to_string(in));
}

void check_reduce_scatter(std::size_t in, std::size_t out, int size) {
  if (in == out * static_cast<std::size_t>(size)) return;
  throw Error("reduce_scatter: in holds " + std::to_string(in) + " values, not " +
              std::to_string(size) + " ranks x " + std::to_string(out));
}

}  // namespace tb::dist

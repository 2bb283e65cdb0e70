// The length and rank checks every Communicator makes before it sends anything, so each
// implementation words a bad call the same way.
#pragma once

#include <cstddef>

namespace tb::dist {

// Throws tb::Error "`op`: `what` `value` is not a rank of this world (0..size-1)".
void check_rank(const char* op, const char* what, int value, int size);
// out must hold size * in elements.
void check_all_gather(std::size_t in, std::size_t out, int size);
// in must be size blocks of out's length.
void check_reduce_scatter(std::size_t in, std::size_t out, int size);

}  // namespace tb::dist

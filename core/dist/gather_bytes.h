// Bytes from every rank to one: how rank 0 collects the other ranks' trace batches. Over the
// Communicator's float messages (a length, then the bytes packed four to a float and copied back
// bit for bit: MPI moves MPI_FLOAT bits unchanged between processes of one architecture).
#pragma once

#include <cstdint>
#include <vector>

#include "core/dist/communicator.h"

namespace tb::dist {

// Called by every rank together. On `root`: every rank's bytes in rank order (its own at index
// root); elsewhere: empty.
std::vector<std::vector<std::uint8_t>> gather_bytes(Communicator& comm,
                                                    const std::vector<std::uint8_t>& mine,
                                                    int root);

}  // namespace tb::dist

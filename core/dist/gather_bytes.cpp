#include "core/dist/gather_bytes.h"

#include <cstring>

#include "core/dist/checks.h"

namespace tb::dist {
namespace {

constexpr int kLengthTag = 7001, kBytesTag = 7002;

std::vector<float> packed(const std::vector<std::uint8_t>& bytes) {
  std::vector<float> floats((bytes.size() + 3) / 4, 0.0f);
  if (!bytes.empty()) std::memcpy(floats.data(), bytes.data(), bytes.size());
  return floats;
}

}  // namespace

std::vector<std::vector<std::uint8_t>> gather_bytes(Communicator& comm,
                                                    const std::vector<std::uint8_t>& mine,
                                                    int root) {
  check_rank("gather_bytes", "root", root, comm.size());
  std::vector<std::vector<std::uint8_t>> all;
  if (comm.rank() != root) {
    const std::uint64_t length = mine.size();
    float header[2];
    std::memcpy(header, &length, sizeof length);
    comm.send(header, root, kLengthTag);
    comm.send(packed(mine), root, kBytesTag);
    return all;
  }
  all.resize(static_cast<std::size_t>(comm.size()));
  all[static_cast<std::size_t>(root)] = mine;
  for (int r = 0; r < comm.size(); ++r) {
    if (r == root) continue;
    float header[2];
    comm.recv(header, r, kLengthTag);
    std::uint64_t length = 0;
    std::memcpy(&length, header, sizeof length);
    std::vector<float> floats((length + 3) / 4);
    comm.recv(floats, r, kBytesTag);
    auto& bytes = all[static_cast<std::size_t>(r)];
    bytes.resize(length);
    if (length > 0) std::memcpy(bytes.data(), floats.data(), length);
  }
  return all;
}

}  // namespace tb::dist

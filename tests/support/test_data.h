// Helpers the tests share: temporary folders and small generated datasets in the real formats.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tb::testing {

// A fresh, empty folder under the system temp dir; removed when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "trainbench-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes an IDX file (big-endian header: 0x0000, type 0x08 (ubyte), rank, dims) gzip-compressed
// when the name ends in ".gz".
void write_idx(const std::filesystem::path& file, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& payload);
void write_bytes(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes,
                 bool gzip);

// The four Fashion-MNIST files (train/t10k images and labels, .gz) of a small, learnable
// 10-class problem: each class is a bright bar at its own place on a noisy 28x28 image.
void write_synthetic_fashion_mnist(const std::filesystem::path& dir, int train_count,
                                   int test_count, std::uint64_t seed = 1);

// The system's Fashion-MNIST folder, or empty when it is not installed.
std::filesystem::path system_fashion_mnist();

}  // namespace tb::testing

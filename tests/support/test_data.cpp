#include "tests/support/test_data.h"

#include <zlib.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace tb::testing {

TempDir::TempDir(const std::string& prefix) {
  std::random_device device;
  std::mt19937_64 rng(device());
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate =
        std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rng() % 100000000));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_bytes(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes,
                 bool gzip) {
  if (gzip) {
    gzFile out = gzopen(file.c_str(), "wb");
    if (!out) throw std::runtime_error("cannot write " + file.string());
    if (!bytes.empty()) gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(out);
    return;
  }
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

void write_idx(const std::filesystem::path& file, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> bytes = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims) {
    bytes.push_back(static_cast<std::uint8_t>(d >> 24));
    bytes.push_back(static_cast<std::uint8_t>(d >> 16));
    bytes.push_back(static_cast<std::uint8_t>(d >> 8));
    bytes.push_back(static_cast<std::uint8_t>(d));
  }
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  write_bytes(file, bytes, file.extension() == ".gz");
}

namespace {
void write_split(const std::filesystem::path& dir, const std::string& prefix, int count,
                 std::mt19937_64& rng) {
  std::vector<std::uint8_t> images(static_cast<std::size_t>(count) * 28 * 28);
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(count));
  std::uniform_int_distribution<int> noise(0, 60);
  for (int i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng() % 10);
    labels[i] = static_cast<std::uint8_t>(label);
    std::uint8_t* image = &images[static_cast<std::size_t>(i) * 784];
    for (int p = 0; p < 784; ++p) image[p] = static_cast<std::uint8_t>(noise(rng));
    // A vertical bar 2 pixels wide at a class-specific column, rows 4..23.
    const int column = 3 + label * 2;
    for (int row = 4; row < 24; ++row) {
      image[row * 28 + column] = 230;
      image[row * 28 + column + 1] = 230;
    }
  }
  const auto n = static_cast<std::uint32_t>(count);
  write_idx(dir / (prefix + "-images-idx3-ubyte.gz"), {n, 28, 28}, images);
  std::vector<std::uint8_t> label_file_payload(labels.begin(), labels.end());
  // Labels are IDX1 with magic 2049: write_idx writes the rank byte from dims.size().
  write_idx(dir / (prefix + "-labels-idx1-ubyte.gz"), {n}, label_file_payload);
}
}  // namespace

void write_synthetic_fashion_mnist(const std::filesystem::path& dir, int train_count,
                                   int test_count, std::uint64_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(seed);
  write_split(dir, "train", train_count, rng);
  write_split(dir, "t10k", test_count, rng);
}

std::filesystem::path system_fashion_mnist() {
  const std::filesystem::path dir = "/usr/share/datasets/fashion-mnist";
  return std::filesystem::exists(dir / "train-images-idx3-ubyte.gz") ? dir
                                                                     : std::filesystem::path{};
}

}  // namespace tb::testing

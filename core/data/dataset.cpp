#include "core/data/dataset.h"

#include <zlib.h>

#include <cstdio>

#include "core/data/idx.h"
#include "core/data/normalize.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

constexpr std::uint32_t kImagesMagic = 2051;
constexpr std::uint32_t kLabelsMagic = 2049;
InMemoryDataset load_split(const std::filesystem::path& dir, const std::string& prefix,
                           std::int64_t limit) {
  const FashionMnistIdx idx = read_fashion_mnist_idx(dir, prefix, limit);
  const IdxArray& images = idx.images;
  const IdxArray& labels = idx.labels;
  InMemoryDataset set;
  set.name = "fashion-mnist/" + prefix;
  set.fingerprint = fashion_mnist_fingerprint(idx);
  set.classes = 10;
  set.class_names = fashion_mnist_class_names();
  const auto h = static_cast<std::int64_t>(images.dims[1]);
  const auto w = static_cast<std::int64_t>(images.dims[2]);
  set.sample_shape = tensor::Shape{1, h, w};
  const auto pixels = static_cast<std::size_t>(idx.count * h * w);
  set.features.resize(pixels);
  set.raw_mean = kFashionMnistMean;
  set.raw_std = kFashionMnistStd;
  Normalization(kFashionMnistScale, kFashionMnistMean, kFashionMnistStd)
      .apply(images.values.data(), set.features.data(), pixels);
  set.labels.assign(labels.values.begin(), labels.values.begin() + idx.count);
  return set;
}

}  // namespace

std::string fashion_mnist_fingerprint(const FashionMnistIdx& idx) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, idx.images.values.data(), idx.images.values.size());
  crc = crc32_z(crc, idx.labels.values.data(), idx.labels.values.size());
  char fingerprint[24];
  std::snprintf(fingerprint, sizeof fingerprint, "crc32:%08lx", crc);
  return fingerprint;
}

FashionMnistIdx read_fashion_mnist_idx(const std::filesystem::path& dir, const std::string& prefix,
                                       std::int64_t limit) {
  FashionMnistIdx idx;
  idx.image_file = find_fashion_mnist_file(dir, prefix + "-images-idx3-ubyte");
  idx.label_file = find_fashion_mnist_file(dir, prefix + "-labels-idx1-ubyte");
  idx.images = read_idx(idx.image_file, kImagesMagic);
  idx.labels = read_idx(idx.label_file, kLabelsMagic);
  if (idx.images.dims[0] != idx.labels.dims[0]) {
    throw FormatError(idx.label_file.string() + ": " + std::to_string(idx.labels.dims[0]) +
                      " labels for " + std::to_string(idx.images.dims[0]) + " images in " +
                      idx.image_file.string());
  }
  idx.count = static_cast<std::int64_t>(idx.images.dims[0]);
  if (limit > 0 && limit < idx.count) idx.count = limit;
  for (std::int64_t i = 0; i < idx.count; ++i) {
    const auto label = idx.labels.values[static_cast<std::size_t>(i)];
    if (label >= 10) {
      throw FormatError(idx.label_file.string() + ": at byte " + std::to_string(8 + i) +
                        ": label " + std::to_string(label) + " is outside 0..9");
    }
  }
  return idx;
}

std::filesystem::path find_fashion_mnist_file(const std::filesystem::path& dir,
                                              const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    auto candidate = dir / (stem + suffix);
    if (std::filesystem::exists(candidate)) return candidate;
  }
  throw FormatError((dir / (stem + ".gz")).string() + ": no such file (nor " + stem +
                    " uncompressed); install dataset-fashion-mnist or set data.path");
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

std::filesystem::path default_fashion_mnist_dir() {
  return "/usr/share/datasets/fashion-mnist";
}

TrainTestSplit load_fashion_mnist(const std::filesystem::path& dir, std::int64_t train_limit,
                                  std::int64_t test_limit) {
  const auto folder = dir.empty() ? default_fashion_mnist_dir() : dir;
  return {load_split(folder, "train", train_limit), load_split(folder, "t10k", test_limit)};
}

}  // namespace tb::data
